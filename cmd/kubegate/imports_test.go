package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps heavy packages that kubegate does not need out of the binary: each
// costs start-up (package initialisation runs before main) and size. The list grows as the
// lean-process work removes more (README, Performance).
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps listed %d packages: %s", len(deps), out)
	}
	for pkg, why := range map[string]string{
		"github.com/sigstore/cosign/v3/cmd/cosign/cli/options":             "cosign's CLI flags: it links the ECR, ACR and GCR credential helpers; predicate types come from cosign's constants",
		"github.com/awslabs/amazon-ecr-credential-helper/ecr-login":        "the ECR credential helper (AWS SDK), through cosign's CLI options",
		"github.com/chrismellard/docker-credential-acr-env/pkg/credhelper": "the ACR credential helper (Azure SDK), through cosign's CLI options",
		"github.com/aquasecurity/trivy/pkg/db":                             "Trivy's DB client: kubegate pulls the DB itself (PullDB) and opens it with trivy-db",
		"github.com/aquasecurity/trivy/pkg/fanal/analyzer/all":             "every Trivy analyzer: kubegate registers the ones an image scan needs",
		"github.com/aquasecurity/trivy/pkg/fanal/analyzer/secret":          "Trivy's secret scanner",
		"github.com/aquasecurity/trivy/pkg/commands":                       "Trivy's CLI",
		"github.com/sigstore/cosign/v3/cmd/cosign/cli/verify":              "cosign's CLI",
		"github.com/aquasecurity/trivy/pkg/fanal/analyzer":                 "Trivy's analyzer framework: it imports the misconfiguration engine; images/trivy/inventory reads images instead",
		"github.com/aquasecurity/trivy/pkg/fanal/artifact/image":           "Trivy's image artifact: through Trivy's OCI downloader it links go-getter",
		"github.com/aquasecurity/trivy/pkg/cache":                          "Trivy's layer cache: it links the secret scanner and the compliance specs",
	} {
		for _, d := range deps {
			if d == pkg {
				t.Errorf("%s is in kubegate's import graph: %s", pkg, why)
			}
		}
	}
	// Whole families, by import path prefix.
	for prefix, why := range map[string]string{
		"github.com/open-policy-agent/opa/":         "OPA, Trivy's misconfiguration engine",
		"github.com/aquasecurity/trivy/pkg/iac/":    "Trivy's IaC scanners",
		"github.com/aquasecurity/trivy/pkg/misconf": "Trivy's misconfiguration scanning",
		"github.com/aquasecurity/trivy-checks/":     "Trivy's checks and compliance specs",
		"github.com/hashicorp/go-getter":            "go-getter, through Trivy's downloader: every cloud storage client",
		"github.com/aws/":                           "the AWS SDK",
		"cloud.google.com/go/storage":               "the Google Cloud Storage client, through go-getter",
		"google.golang.org/grpc/xds":                "gRPC's xDS, through the cloud storage clients",
		"github.com/envoyproxy/":                    "envoy's control plane, through gRPC's xDS",
		"sigs.k8s.io/controller-runtime/":           "controller-runtime, through Helm's action package in Trivy's Helm scanner",
		"helm.sh/helm/v4/pkg/action":                "Helm's action package (kubectl, the cluster clients): kubegate renders with the engine alone",
		"k8s.io/kubectl/":                           "kubectl, through Helm's action package",
	} {
		for _, d := range deps {
			if strings.HasPrefix(d, prefix) {
				t.Errorf("%s is in kubegate's import graph (%s): %s", d, prefix, why)
				break
			}
		}
	}
}
