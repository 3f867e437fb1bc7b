#!/usr/bin/env bash
# Shows that a refactoring changed no behaviour: the JSON report of this working tree's
# kubegate and of BASE's (a commit) on the bundled demo, every vendored upstream chart
# (with each of its ci/ values files) and Kustomize root, and the control-plane fixtures
# must be byte-identical. Usage: scripts/report-identity.sh BASE_REV
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/report-identity.sh BASE_REV}
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath # the Makefile's flag set: one build cache
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/base" "$base"
(cd "$work/base" && go build -o "$work/base-kubegate" ./cmd/kubegate)
go build -o "$work/head-kubegate" ./cmd/kubegate
inputs=(testdata/demo testdata/controlplane/hardened testdata/controlplane/insecure testdata/hardened)
for c in testdata/upstream/charts/*/; do inputs+=("${c%/}"); done
for k in testdata/upstream/kustomize/*/; do inputs+=("${k%/}"); done
runs=0 differ=0
check() { # name, args...
  local name=$1; shift
  "$work/base-kubegate" check --offline --format json "$@" > "$work/base.json" 2>/dev/null || true
  "$work/head-kubegate" check --offline --format json "$@" > "$work/head.json" 2>/dev/null || true
  runs=$((runs + 1))
  if ! cmp -s "$work/base.json" "$work/head.json"; then
    differ=$((differ + 1))
    echo "DIFFERS: $name"
    diff <(python3 -m json.tool "$work/base.json") <(python3 -m json.tool "$work/head.json") | head -20 || true
  fi
}
for in in "${inputs[@]}"; do
  check "$in" "$in"
  for v in "$in"/ci/*.yaml; do
    [ -e "$v" ] && check "$in -f $v" -f "$v" "$in"
  done
done
echo "$runs reports compared, $differ differ (base $base)"
[ "$differ" -eq 0 ]
