#!/usr/bin/env bash
# Check the release without a forge:
#  1. `goreleaser check` on .goreleaser.yaml, actionlint on the workflows;
#  2. a snapshot build for this machine's platform, which must be the binary `make build`
#     makes (the same build settings: experiment, cgo, -trimpath, platform);
#  3. a snapshot release of this platform (archive and checksums.txt, as GoReleaser names and
#     writes them), its checksums signed with a throwaway cosign key, served on loopback,
#     and installed by the GitHub Action's installer (ci/github/install.sh) with the key in
#     place of the release workflow's keyless identity; the installed kubegate must run.
# GoReleaser and cosign are installed through the Go module proxy into .cache/bin once (a
# cold install of both is minutes on 2 cores; later runs reuse them). Publishing, keyless
# signing, SBOMs, provenance and images need a forge, OIDC and a container engine: the
# release workflow (.github/workflows/release.yml) does those.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath # the Makefile's flag set: one build cache
GORELEASER_VERSION=v2.15.1
goreleaser=$PWD/.cache/bin/goreleaser-$GORELEASER_VERSION
if [ ! -x "$goreleaser" ]; then
  echo "release-check: installing goreleaser $GORELEASER_VERSION into .cache/bin"
  GOBIN=$PWD/.cache/bin/tmp-goreleaser go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  mv .cache/bin/tmp-goreleaser/goreleaser "$goreleaser" && rmdir .cache/bin/tmp-goreleaser
fi
ACTIONLINT_VERSION=v1.7.12
actionlint=$PWD/.cache/bin/actionlint-$ACTIONLINT_VERSION
if [ ! -x "$actionlint" ]; then
  GOBIN=$PWD/.cache/bin/tmp-actionlint go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  mv .cache/bin/tmp-actionlint/actionlint "$actionlint" && rmdir .cache/bin/tmp-actionlint
fi
cosign=$(make -s --no-print-directory -f Makefile -f - <<<'print-cosign: $(COSIGN) ; @echo $(COSIGN)' print-cosign)
quiet() { grep -E 'building|archiving|checksumming|succeeded|error|⨯' || true; }

"$goreleaser" check
"$actionlint" -shellcheck= .github/workflows/*.yml # the workflows: syntax, expressions, the actions' inputs
rm -rf dist
"$goreleaser" build --snapshot --single-target --clean -o dist/kubegate 2>&1 | quiet
test -x dist/kubegate || { echo "release-check: no snapshot binary"; exit 1; }
make -s build
settings() { go version -m "$1" | grep -P '^\tbuild\t' | grep -v 'vcs\.'; }
if ! diff <(settings bin/kubegate) <(settings dist/kubegate); then
  echo "release-check: the release binary is not built as make build builds (above: make < > goreleaser)"
  exit 1
fi

size() { stat -c %s "$1" | awk '{printf "%.1f MB", $1/1e6}'; }
sizes="binary $(size dist/kubegate) (make build $(size bin/kubegate))"

# 3. This platform's release, through the action's installer.
os=$(go env GOOS) arch=$(go env GOARCH)
sed -e "s/goos: \[linux, darwin\]/goos: [$os]/" -e "s/goarch: \[amd64, arm64\]/goarch: [$arch]/" .goreleaser.yaml > dist/host.goreleaser.yaml
grep -q "goos: \[$os\]" dist/host.goreleaser.yaml && grep -q "goarch: \[$arch\]" dist/host.goreleaser.yaml ||
  { echo "release-check: could not narrow builds to $os/$arch"; exit 1; }
"$goreleaser" release --snapshot --clean --config dist/host.goreleaser.yaml --skip=sign,sbom,docker,publish,before 2>&1 | quiet
version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' dist/metadata.json | head -1)
archive=dist/kubegate_${version}_${os}_${arch}.tar.gz
test -s "$archive" && test -s dist/checksums.txt || { echo "release-check: no $archive or checksums.txt"; ls dist; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/download/v$version"
cp "$archive" dist/checksums.txt "$work/download/v$version/"
(cd "$work" && COSIGN_PASSWORD= "$cosign" generate-key-pair >/dev/null 2>&1)
COSIGN_PASSWORD= "$cosign" sign-blob --key "$work/cosign.key" --bundle "$work/download/v$version/checksums.txt.sigstore.json" \
  --tlog-upload=false --use-signing-config=false --yes "$work/download/v$version/checksums.txt" >/dev/null 2>&1
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/download" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
mkdir "$work/cosign-bin" && ln -s "$cosign" "$work/cosign-bin/cosign"
case $os in linux) runner_os=Linux ;; darwin) runner_os=macOS ;; esac
case $arch in amd64) runner_arch=X64 ;; arm64) runner_arch=ARM64 ;; esac
PATH=$work/cosign-bin:$PATH GITHUB_OUTPUT=$work/output RUNNER_TEMP=$work RUNNER_OS=$runner_os RUNNER_ARCH=$runner_arch \
  KUBEGATE_VERSION=v$version KUBEGATE_RELEASE_URL=http://127.0.0.1:$port KUBEGATE_RELEASE_KEY=$work/cosign.pub \
  ci/github/install.sh install
installed=$(sed -n 's/^bin=//p' "$work/output")
"$installed" version | grep -q "^kubegate $version " || { echo "release-check: the installed kubegate is not $version"; exit 1; }

echo "release-check: config valid; snapshot binary built as make build builds; the action installed and ran the snapshot release"
echo "release-check: sizes: $sizes, archive $(size "$archive")"
