#!/usr/bin/env bash
# Whole-process time of `kubegate check --offline` on INPUT without admission policies and
# with ten (--admission-policies), in ROUNDS interleaved runs, then the medians and the
# median of each round's ratio with/without: what evaluating the policies costs. The ten
# are the four examples of the Kubernetes documentation (gate/admissionpolicy/testdata/docs:
# a replicas limit bound by namespace selector, the same with params, matchConditions over
# every resource, variables) and six of the policies `kubegate generate admission-policies`
# writes (pod template, RBAC, Service and Ingress rules). INPUT defaults to the vendored
# upstream goldens; pass ../shared/corpus/charts-1388.yaml for the corpus.
# Usage: scripts/bench-admission.sh [ROUNDS] [INPUT...]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-15}
shift $(( $# >= 1 ? 1 : 0 ))
inputs=("$@")
[ ${#inputs[@]} -gt 0 ] || inputs=(testdata/upstream/golden/*.yaml)
make -s build
kg=$PWD/bin/kubegate
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/kubegate.yaml" <<'POLICY'
apiVersion: kubegate.dev/v1alpha1
kind: Policy
rules:
  disable: [workload-default-namespace, workload-system-namespace, projected-token-expiration, namespace-kube-prefix,
            namespace-pod-security-labels, rbac-default-service-account, secret-legacy-service-account-token, service-external-ips, ingress-without-tls]
POLICY
"$kg" generate admission-policies --config "$work/kubegate.yaml" --out "$work/generated.yaml" >/dev/null
docs=gate/admissionpolicy/testdata/docs
policies=(--admission-policies "$work/generated.yaml")
for f in replicas params conditions variables; do policies+=(--admission-policies "$docs/$f.yaml"); done
n=$(grep -h -c '^kind: ValidatingAdmissionPolicy$' "$work/generated.yaml" "$docs"/{replicas,params,conditions,variables}.yaml | paste -sd+ | bc)
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
"$kg" check --offline "${inputs[@]}" >/dev/null 2>&1 || true # warm-up
vap=$("$kg" check --offline --format json "${policies[@]}" "${inputs[@]}" 2>/dev/null | grep -c '"rule": "vap:' || true)
for _ in $(seq "$rounds"); do
  echo "without $(ms "$kg" check --offline "${inputs[@]}")"
  echo "with $(ms "$kg" check --offline "${policies[@]}" "${inputs[@]}")"
done | awk -v n="$n" -v vap="$vap" '
  { t[$1] = t[$1] " " $2; if ($1 == "without") b = $2; else r = r " " $2 / b }
  function median(list,   a, k, i, j, x) {
    k = split(list, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END { printf "check without policies %6.1f ms  with %d policies %6.1f ms  with/without %.2f  (%d findings of the policies)\n", median(t["without"]), n, median(t["with"]), median(r), vap }'
echo "($rounds interleaved rounds, medians of whole-process wall time and of each round's ratio; $(nproc) cores; input ${inputs[*]:0:3}$([ ${#inputs[@]} -gt 3 ] && echo " …"))"
