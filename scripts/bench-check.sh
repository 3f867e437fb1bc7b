#!/usr/bin/env bash
# Whole-process time of `kubegate check --offline` and `kubegate version`, this working tree
# against BASE (a commit), in ROUNDS interleaved runs (base, head, base, head, …), then the
# medians of each and the median of each round's ratio head/base (which a machine whose
# speed drifts between rounds disturbs least); the machine is shared and noisy, so quote the
# ratio. INPUT defaults to the vendored upstream goldens (testdata/upstream/golden), which
# the repository holds; pass ../shared/corpus/charts-1383-clean.yaml for the budget's corpus.
# REPEAT=N takes the inputs N times over, as one file; peak RSS of one run of each side,
# text and JSON reports, is printed too.
# Usage: [REPEAT=N] scripts/bench-check.sh BASE_REV [ROUNDS] [INPUT...]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/bench-check.sh BASE_REV [ROUNDS] [INPUT...]}
rounds=${2:-15}
shift $(( $# >= 2 ? 2 : 1 ))
inputs=("$@")
[ ${#inputs[@]} -gt 0 ] || inputs=(testdata/upstream/golden/*.yaml)
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath # the Makefile's flag set: one build cache
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
if [ "${REPEAT:-1}" -gt 1 ]; then # the inputs REPEAT times over, as one file
  scripts/repeat-input.sh "$REPEAT" "${inputs[@]}" > "$work/input.yaml"; inputs=("$work/input.yaml")
fi
git worktree add -q --detach "$work/base" "$base"
(cd "$work/base" && go build -ldflags '-s -w' -o "$work/base-kubegate" ./cmd/kubegate)
go build -ldflags '-s -w' -o "$work/head-kubegate" ./cmd/kubegate
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
for side in base head; do "$work/$side-kubegate" check --offline --format json "${inputs[@]}" >/dev/null 2>&1 || true; done # warm-up
for _ in $(seq "$rounds"); do
  for side in base head; do
    echo "$side check $(ms "$work/$side-kubegate" check --offline --format json "${inputs[@]}")"
    echo "$side version $(ms "$work/$side-kubegate" version)"
  done
done | awk '
  { t[$1 " " $2] = t[$1 " " $2] " " $3; if ($1 == "base") b[$2] = $3; else r[$2] = r[$2] " " $3 / b[$2] }
  function median(list,   a, n, i, j, x) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (w = 1; w <= 2; w++) {
      what = w == 1 ? "check" : "version"
      printf "%-8s base %6.1f ms  head %6.1f ms  head/base %.2f (median of the rounds'"'"' ratios)\n", what, median(t["base " what]), median(t["head " what]), median(r[what])
    }
  }'
if command -v /usr/bin/time >/dev/null; then # the median of 5 interleaved runs each: a single run varies by ±5 MiB
  rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
  med5() { sort -n | sed -n 3p; }
  for format in text json; do
    for _ in 1 2 3 4 5; do
      echo "$(rss "$work/base-kubegate" check --offline --format $format "${inputs[@]}") $(rss "$work/head-kubegate" check --offline --format $format "${inputs[@]}")"
    done > "$work/rss"
    echo "peak RSS check --format $format  base $(( $(cut -d' ' -f1 "$work/rss" | med5) / 1024 )) MiB  head $(( $(cut -d' ' -f2 "$work/rss" | med5) / 1024 )) MiB (medians of 5)"
  done
fi
echo "($rounds interleaved rounds, medians of whole-process wall time; base $base; input ${inputs[*]:0:3}$([ ${#inputs[@]} -gt 3 ] && echo " …"))"
