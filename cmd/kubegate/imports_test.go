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
	} {
		for _, d := range deps {
			if d == pkg {
				t.Errorf("%s is in kubegate's import graph: %s", pkg, why)
			}
		}
	}
}
