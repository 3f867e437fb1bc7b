#!/usr/bin/env bash
# Whole-process wall time and peak memory of kubegate against the reference, kube-score
# (installed at KUBE_SCORE_VERSION through the Go module proxy into .cache/bin), in ROUNDS
# interleaved runs (kube-score, kubegate, kube-score, …): `version` against `version`, and
# `check --offline` against `kube-score score` on INPUT (default: the vendored upstream
# goldens, which the repository holds). Prints the medians, the median of each round's
# kubegate/kube-score ratio (the figure to quote: the machine is shared and its speed
# drifts), objects per second, and the peak RSS of one run of each.
# Usage: [REPEAT=N] scripts/perf.sh [ROUNDS] [INPUT...]     (make perf; REPEAT: the inputs N
# times over, as one file, for memory as the input grows)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-15}
shift $(( $# >= 1 ? 1 : 0 ))
inputs=("$@")
[ ${#inputs[@]} -gt 0 ] || inputs=(testdata/upstream/golden/*.yaml)
if [ "${REPEAT:-1}" -gt 1 ]; then # the inputs REPEAT times over, as one file
  rep=$(mktemp --suffix=.yaml); trap 'rm -f "$rep"' EXIT
  scripts/repeat-input.sh "$REPEAT" "${inputs[@]}" > "$rep"; inputs=("$rep")
fi
KUBE_SCORE_VERSION=v1.20.0
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath # the Makefile's flag set: one build cache
bin=$PWD/.cache/bin
mkdir -p "$bin"
[ -x "$bin/kube-score-$KUBE_SCORE_VERSION" ] || {
  GOBIN=$bin GOEXPERIMENT= go install "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
  mv "$bin/kube-score" "$bin/kube-score-$KUBE_SCORE_VERSION"
}
ks=$bin/kube-score-$KUBE_SCORE_VERSION
make -s build
kg=$PWD/bin/kubegate
objects=$("$kg" check --offline --format json "${inputs[@]}" 2>/dev/null | sed -n 's/^ *"objects": \([0-9]*\),$/\1/p' | head -1 || true)
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
"$ks" score "${inputs[@]}" >/dev/null 2>&1 || true; "$kg" check --offline "${inputs[@]}" >/dev/null 2>&1 || true # warm-up
for _ in $(seq "$rounds"); do
  echo "ref version $(ms "$ks" version)"
  echo "kg version $(ms "$kg" version)"
  echo "ref check $(ms "$ks" score "${inputs[@]}")"
  echo "kg check $(ms "$kg" check --offline "${inputs[@]}")"
done | awk -v objects="${objects:-0}" '
  { t[$1 " " $2] = t[$1 " " $2] " " $3; if ($1 == "ref") b[$2] = $3; else r[$2] = r[$2] " " ($3 + 0.5) / (b[$2] + 0.5) }
  function median(list,   a, n, i, j, x) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "version  kube-score %6.1f ms  kubegate %6.1f ms  kubegate/kube-score %.2f\n", median(t["ref version"]), median(t["kg version"]), median(r["version"])
    printf "check    kube-score %6.1f ms  kubegate %6.1f ms  kubegate/kube-score %.2f", median(t["ref check"]), median(t["kg check"]), median(r["check"])
    if (objects > 0) printf "  (%d objects: kubegate %.0f objects/s, whole process)", objects, objects * 1000 / median(t["kg check"])
    printf "\n"
  }'
if command -v /usr/bin/time >/dev/null; then
  rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
  echo "peak RSS kube-score $(( $(rss "$ks" score "${inputs[@]}") / 1024 )) MiB  kubegate $(( $(rss "$kg" check --offline "${inputs[@]}") / 1024 )) MiB (with --format json $(( $(rss "$kg" check --offline --format json "${inputs[@]}") / 1024 )) MiB)"
  echo "peak RSS of version (what a process starts with) kube-score $(( $(rss "$ks" version) / 1024 )) MiB  kubegate $(( $(rss "$kg" version) / 1024 )) MiB"
fi
echo "($rounds interleaved rounds, medians of whole-process wall time and of each round's ratio; kube-score $KUBE_SCORE_VERSION; $(nproc) cores; input ${inputs[*]:0:3}$([ ${#inputs[@]} -gt 3 ] && echo " …"))"
