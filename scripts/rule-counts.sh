#!/usr/bin/env bash
# Counts findings per rule on the vendored upstream corpus (testdata/upstream: each chart with
# its default values and with each of its ci/*.yaml values files, each Kustomize root), for
# comparing two builds of kubegate: scripts/rule-counts.sh bin/kubegate [other-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
count() {
  local bin=$1
  {
    for c in testdata/upstream/charts/*/; do
      "$bin" check --offline --format json "$c" || true
      for v in "$c"ci/*.yaml; do
        [ -e "$v" ] && { "$bin" check --offline --format json -f "$v" "$c" || true; }
      done
    done
    for k in helloWorld ldap/overlays/production ldap/overlays/staging springboot/overlays/production wordpress multibases build-metadata; do
      "$bin" check --offline --format json "testdata/upstream/kustomize/$k" || true
    done
  } 2>/dev/null | python3 -c '
import json, sys, collections
dec, text, counts = json.JSONDecoder(), sys.stdin.read(), collections.Counter()
i = 0
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    doc, i = dec.raw_decode(text, i)
    for f in doc.get("findings") or []:
        counts[(f["rule"], f["severity"])] += 1
for (rule, sev), n in sorted(counts.items()):
    print(f"{rule}\t{sev}\t{n}")
'
}
if [ $# -eq 2 ]; then
  join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,2.2 <(count "$1" | awk -F'\t' '{print $1"/"$2"\t"$3}' | sort) \
    <(count "$2" | awk -F'\t' '{print $1"/"$2"\t"$3}' | sort) | sed '1i rule/severity\t'"$1"'\t'"$2"
else
  count "$1"
fi
