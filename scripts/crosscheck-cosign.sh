#!/usr/bin/env bash
# Cross-check kubegate's signature verification against what the real cosign CLI writes:
# images signed and attested by `cosign` v3 both ways (Sigstore bundles as referrers, the
# default; classic .sig/.att tags with --new-bundle-format=false) in a `crane registry serve`
# on loopback must pass `kubegate check --fail-on critical`, and an image signed by another
# key must fail it. Not part of `make test` (it installs the CLIs through the module
# proxy): run it with `make crosscheck`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath # the Makefile's flag set: one build cache
BIN=$(go env GOPATH)/bin
[ -x "$BIN/cosign" ] || go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3
[ -x "$BIN/crane" ] || go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
cosign=$BIN/cosign crane=$BIN/crane
make -s build

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
"$crane" registry serve --address "127.0.0.1:$port" 2>"$work/registry.log" &
reg=127.0.0.1:$port
for _ in $(seq 50); do "$crane" catalog "$reg" --insecure >/dev/null 2>&1 && break; sleep 0.1; done

cd "$work"
COSIGN_PASSWORD= "$cosign" generate-key-pair >/dev/null 2>&1
mkdir other && (cd other && COSIGN_PASSWORD= "$cosign" generate-key-pair >/dev/null 2>&1)
echo '{"buildType": "https://example.com/ci", "builder": {"id": "https://example.com/ci"}}' > predicate.json
sign=(--tlog-upload=false --use-signing-config=false --allow-http-registry --allow-insecure-registry -y)

push() { # name → digest reference
  echo "$1" > "$1.txt"; tar -cf "$1.tar" "$1.txt"
  "$crane" append --insecure -f "$1.tar" -t "$reg/acme/$1:1" >/dev/null 2>&1
  "$crane" mutate --insecure --user 10001 "$reg/acme/$1:1" >/dev/null 2>&1
  echo "$reg/acme/$1@$("$crane" digest --insecure "$reg/acme/$1:1")"
}
bundled=$(push bundled); classic=$(push classic); foreign=$(push foreign)
COSIGN_PASSWORD= "$cosign" sign --key cosign.key "${sign[@]}" "$bundled" 2>/dev/null
COSIGN_PASSWORD= "$cosign" attest --key cosign.key --type slsaprovenance --predicate predicate.json "${sign[@]}" "$bundled" 2>/dev/null
COSIGN_PASSWORD= "$cosign" sign --key cosign.key --new-bundle-format=false "${sign[@]}" "$classic" 2>/dev/null
COSIGN_PASSWORD= "$cosign" attest --key cosign.key --new-bundle-format=false --type slsaprovenance --predicate predicate.json "${sign[@]}" "$classic" 2>/dev/null
COSIGN_PASSWORD= "$cosign" sign --key other/cosign.key "${sign[@]}" "$foreign" 2>/dev/null
COSIGN_PASSWORD= "$cosign" attest --key other/cosign.key --type slsaprovenance --predicate predicate.json "${sign[@]}" "$foreign" 2>/dev/null

cat > kubegate.yaml <<YAML
apiVersion: kubegate.dev/v1alpha1
kind: Policy
images:
  insecureRegistries: ["$reg"]
  rules:
    - match: ["$reg/acme/*"]
      signature: {keys: [cosign.pub], ignoreTlog: true}
      attestations: [{type: slsaprovenance}]
      vulnerabilities: {failOn: off}
rules:
  disable: [image-registry-insecure, network-policy-default-deny, service-account-token-automount, container-resources, image-runs-as-root]
YAML
manifest() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: shop}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: $2
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
YAML
}
check() { "$OLDPWD/bin/kubegate" check --config kubegate.yaml --fail-on critical --no-cache "$@"; }

fail=0
for name in bundled classic; do
  ref=${!name}; manifest "$name" "$ref" > "$name.yaml"
  if out=$(check "$name.yaml" 2>&1) && grep -q " 0 findings" <<<"$out"; then echo "ok: $name (cosign-signed and attested) passes with no finding"
  else echo "FAIL: $name should pass:"; echo "$out"; fail=1; fi
done
manifest foreign "$foreign" > foreign.yaml
if out=$(check foreign.yaml 2>&1); then echo "FAIL: an image signed by another key passed:"; echo "$out"; fail=1
elif grep -q "image-unverified" <<<"$out"; then echo "ok: foreign (signed by another key) fails with image-unverified"
else echo "FAIL: foreign failed for another reason:"; echo "$out"; fail=1; fi
# And cosign agrees with kubegate on each.
"$cosign" verify --key cosign.pub --insecure-ignore-tlog --allow-http-registry --allow-insecure-registry "$bundled" >/dev/null 2>&1 && echo "ok: cosign verify agrees on bundled"
"$cosign" verify-attestation --key cosign.pub --type slsaprovenance --insecure-ignore-tlog --allow-http-registry --allow-insecure-registry "$classic" >/dev/null 2>&1 && echo "ok: cosign verify-attestation agrees on classic"
exit $fail
