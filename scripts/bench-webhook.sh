#!/usr/bin/env bash
# The admission webhook's latency for an image whose verdict is cached
# (BenchmarkWebhookCachedImage: one HEAD to a loopback registry, the key file read again,
# the decision, over HTTPS through the API server's own webhook client), this working tree
# against another commit: ROUNDS interleaved runs of each, then the medians of their p50
# and p99 and the ratio. Usage: scripts/bench-webhook.sh BASE_REV [ROUNDS] [REVIEWS]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/bench-webhook.sh BASE_REV [ROUNDS] [REVIEWS]}
rounds=${2:-7}
reviews=${3:-5000}
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath # the Makefile's flag set: one build cache
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/base" "$base"
(cd "$work/base" && go test -c -o "$work/base.test" ./cmd/kubegate)
go test -c -o "$work/head.test" ./cmd/kubegate
for _ in $(seq "$rounds"); do
  for side in base head; do
    dir=cmd/kubegate
    [ "$side" = base ] && dir=$work/base/cmd/kubegate
    (cd "$dir" && "$work/$side.test" -test.run '^$' -test.bench WebhookCachedImage -test.benchtime "${reviews}x") |
      awk -v side="$side" '/^BenchmarkWebhookCachedImage/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "p50-ms") p50 = $i; if ($(i+1) == "p99-ms") p99 = $i } print side, p50, p99 }'
  done
done | tee "$work/runs" >&2
awk '
  { p50[$1] = p50[$1] " " $2; p99[$1] = p99[$1] " " $3 }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "p50  base %.3f ms  head %.3f ms  ratio %.2f\n", median(p50["base"]), median(p50["head"]), median(p50["head"]) / median(p50["base"])
    printf "p99  base %.3f ms  head %.3f ms  ratio %.2f\n", median(p99["base"]), median(p99["head"]), median(p99["head"]) / median(p99["base"])
  }' "$work/runs"
