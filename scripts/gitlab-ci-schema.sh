#!/usr/bin/env bash
# GitLab's CI schema (the one GitLab's pipeline editor validates .gitlab-ci.yml with, as
# app/assets/javascripts/editor/schema/ci.json), for the tests of the GitLab template and
# component: taken from the npm package gitlab-ci-local 4.65.1 (MIT), which ships it as a
# module, checked against a pinned SHA-256 and written as JSON to $1. make test runs this
# once (npm registry and Node.js, both on the CI machine); nothing is fetched at test time.
set -euo pipefail
out=${1:?usage: gitlab-ci-schema.sh OUT.json}
version=4.65.1
sha256=e6b1de5993ad55e68c59d3c1e4a35e99944f48e0712eddeab9b16abebf007f76 # of the package tarball
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "gitlab-ci-local@$version" >/dev/null)
echo "$sha256  $tmp/gitlab-ci-local-$version.tgz" | sha256sum --check --quiet
tar -xzf "$tmp/gitlab-ci-local-$version.tgz" -C "$tmp" package/src/schema/schema.js
mkdir -p "$(dirname "$out")"
node --input-type=module -e "import {schema} from '$tmp/package/src/schema/schema.js'; process.stdout.write(JSON.stringify(schema, null, 1))" > "$out.tmp"
mv "$out.tmp" "$out"
