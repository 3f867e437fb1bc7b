package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The round trip a platform team makes: generate the policies, then check manifests
// against them the way the cluster will judge them.
func TestGenerateAdmissionPoliciesThenCheck(t *testing.T) {
	dir := t.TempDir()
	policies := filepath.Join(dir, "policies.yaml")
	code, out, errOut := kubegate(t, "", "generate", "admission-policies", "--action", "Warn", "--out", policies)
	if code != 0 || !strings.Contains(out, "# wrote "+policies) {
		t.Fatalf("generate: exit %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(policies)
	if err != nil || !strings.Contains(string(data), "validationActions:\n  - Warn") {
		t.Fatalf("generated: %v\n%.500s", err, data)
	}
	code, out, errOut = kubegate(t, "", "check", "--offline", "--format", "json", "--admission-policies", policies, "../../testdata/hardened")
	if code != 0 || strings.Contains(out, `"rule": "vap:`) {
		t.Errorf("the hardened app against the generated policies: exit %d\n%.2000s%s", code, out, errOut)
	}
	app := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(app, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  type: NodePort\n  ports: [{port: 80}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = kubegate(t, "", "check", "--offline", "--admission-policies", policies, app)
	rows := textRows(out)
	if code != 1 || !strings.Contains(rows, "svc.yaml:5  LOW       vap:kubegate-service-node-port/0  Service shop/web: kubegate service-node-port: NodePort Service.") ||
		!strings.Contains(rows, "service-node-port  Service shop/web") {
		t.Errorf("a NodePort Service: exit %d\n%s", code, rows)
	}
	code, _, errOut = kubegate(t, "", "generate", "admission-policies", "--action", "Block")
	if code != 2 || !strings.Contains(errOut, "--action must be Deny, Warn or Audit") {
		t.Errorf("--action Block: exit %d %s", code, errOut)
	}
}
