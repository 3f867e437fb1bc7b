#!/usr/bin/env bash
# What verdict attestations save, as medians of ROUNDS interleaved runs (each round runs
# the full check and the verdict path back to back on a fresh world, so the machine's
# drift hits both alike): a second CI runner's whole `check` of a 30 MB image with empty
# caches (BenchmarkVerdictReuse: full check with the DB, the verdict with no DB, and the
# rest of the check offline), and the webhook's review of an image (BenchmarkWebhookVerdict:
# p50 and p99, the verdict the first time and remembered, against a full check). Prints the
# medians of the rounds and of each round's ratio.
# Usage: scripts/bench-verdicts.sh [ROUNDS] [RUNS]   (make bench-verdicts)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
runs=${2:-10}
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath # the Makefile's flag set: one build cache
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/kubegate.test" ./cmd/kubegate
for _ in $(seq "$rounds"); do
  (cd cmd/kubegate && "$work/kubegate.test" -test.run '^$' -test.bench 'BenchmarkVerdictReuse|BenchmarkWebhookVerdict' -test.benchtime "${runs}x") |
    awk '
      /^BenchmarkVerdictReuse\/full-check/ { full = $3 }
      /^BenchmarkVerdictReuse\/verdict/    { verdict = $3 }
      /^BenchmarkVerdictReuse\/offline/    { offline = $3 }
      /^BenchmarkWebhookVerdict/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "p50-ms") p50 = $i; if ($(i+1) == "p99-ms") p99 = $i }
        if ($1 ~ /verdict-first/) { vp50 = p50; vp99 = p99 } else if ($1 ~ /verdict-remembered/) { rp50 = p50; rp99 = p99 } else { fp50 = p50; fp99 = p99 } }
      END { print full / 1e6, verdict / 1e6, offline / 1e6, full / verdict, (full - offline) / (verdict - offline), vp50, vp99, fp50, fp99, fp50 / vp50, rp50, rp99 }'
done | tee "$work/rounds" >&2
awk '
  { for (i = 1; i <= NF; i++) col[i] = col[i] " " $i }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "second runner, whole check: full %.1f ms, verdict %.1f ms (offline rest %.1f ms): full/verdict %.1f×, image stage alone %.1f×\n",
      median(col[1]), median(col[2]), median(col[3]), median(col[4]), median(col[5])
    printf "webhook, an image it has not seen: from the verdict (no DB) p50 %.2f ms p99 %.2f ms; full check p50 %.1f ms p99 %.1f ms; p50 ratio %.0f×\n",
      median(col[6]), median(col[7]), median(col[8]), median(col[9]), median(col[10])
    printf "webhook, the verdict remembered: p50 %.2f ms p99 %.2f ms\n", median(col[11]), median(col[12])
    printf "(%d interleaved rounds of %s runs each; medians of the rounds and of their ratios; %s cores)\n", NR, "'"$runs"'", "'"$(nproc)"'"
  }' "$work/rounds"
