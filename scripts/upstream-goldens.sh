#!/usr/bin/env bash
# Renders testdata/upstream with the real helm and kustomize CLIs into
# testdata/upstream/golden, which TestRendersLikeHelmAndKustomize compares kubegate's
# rendering with. Installs the CLIs through the Go module proxy into .cache/bin.
# helm is the release of the Helm SDK go.mod pins; kustomize the release embedding the
# kustomize API module go.mod pins (render.KustomizeVersion).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local CGO_ENABLED=0
HELM_VERSION=$(go list -m -f '{{.Version}}' helm.sh/helm/v4) # the Helm SDK kubegate renders with
KUSTOMIZE_VERSION=$(sed -n 's/^const KustomizeVersion = "\(.*\)"/\1/p' gate/render/kustomize.go)
bin=$PWD/.cache/bin
mkdir -p "$bin"
# go install builds from the module cache when it can: always the versions named above.
GOBIN=$bin go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
GOBIN=$bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
cd testdata/upstream
for c in charts/*/; do
  c=${c%/}
  "$bin/helm" template release-name "$c" --namespace default > "golden/helm-${c#charts/}.yaml"
done
for k in helloWorld ldap/overlays/production ldap/overlays/staging springboot/overlays/production wordpress multibases build-metadata; do
  "$bin/kustomize" build "kustomize/$k" > "golden/kustomize-${k//\//-}.yaml" 2>/dev/null
done
echo "goldens written by helm $HELM_VERSION and kustomize $KUSTOMIZE_VERSION"
