#!/usr/bin/env bash
# Print the YAML streams FILE... N times over, one document stream: larger inputs for the
# memory and throughput figures (REPEAT=N for scripts/perf.sh and scripts/bench-check.sh;
# the 1,383-object corpus 15 times over is 20,685 objects). Repeated objects are reported
# as duplicates, which is part of the work being measured.
# Usage: scripts/repeat-input.sh N FILE... > out.yaml
set -euo pipefail
n=${1:?usage: repeat-input.sh N FILE...}
shift
for _ in $(seq "$n"); do
  for f in "$@"; do cat "$f"; printf '\n---\n'; done
done
