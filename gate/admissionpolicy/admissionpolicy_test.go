package admissionpolicy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

// read decodes the YAML files into objects.
func read(t *testing.T, files ...string) []*manifest.Object {
	t.Helper()
	var out []*manifest.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range manifest.Decode(data, manifest.Source{File: f}) {
			if d.Err != nil {
				t.Fatalf("%s: %v", f, d.Err)
			}
			out = append(out, d.Objects...)
		}
	}
	return out
}

// verdict is one finding in brief: rule, severity, object, line and message.
func verdicts(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, strings.Join([]string{f.RuleID, f.Severity.String(), f.Object.String(), filepath.Base(f.Source.String()), f.Message}, " | "))
	}
	slices.Sort(out)
	return out
}

// The examples of the Kubernetes documentation, with the verdicts the API server gives.
func TestDocumentationExamples(t *testing.T) {
	dir := filepath.Join("testdata", "docs")
	policies := read(t, filepath.Join(dir, "replicas.yaml"), filepath.Join(dir, "params.yaml"),
		filepath.Join(dir, "conditions.yaml"), filepath.Join(dir, "variables.yaml"))
	objs := read(t, filepath.Join(dir, "objects.yaml"))
	ps, errs := Load(append(policies, objs...), "")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	got := verdicts(ps.Evaluate(context.Background(), objs, Options{}))
	want := []string{
		// demo-policy: at most 5 replicas in namespaces labelled environment: test.
		"vap:demo-policy.example.com/0 | high | Deployment test/large | objects.yaml:52 | failed expression: object.spec.replicas <= 5 (ValidatingAdmissionPolicy demo-policy.example.com, binding demo-binding-test.example.com: Deny)",
		// matchConditions: the ConfigMap named demo outside namespace demo warns; the Role
		// named demo is excluded by the rbac condition.
		"vap:demo-policy.example.com-conditions/0 | low | ConfigMap test/demo-settings | objects.yaml:93 | failed expression: !object.metadata.name.contains('demo') || object.metadata.namespace == 'demo' (ValidatingAdmissionPolicy demo-policy.example.com-conditions, binding demo-binding-conditions: Warn, Audit)",
		// variables: a prod image in the test namespace.
		"vap:image-matches-namespace-environment.policy.example.com/0 | high | Deployment test/large | objects.yaml:46 | only test images are allowed in namespace test (ValidatingAdmissionPolicy image-matches-namespace-environment.policy.example.com, binding image-matches-namespace-environment.binding: Deny)",
		// params: at most maxReplicas (3), said by the messageExpression.
		"vap:replicalimit-policy.example.com/0 | high | Deployment test/large | objects.yaml:52 | object.spec.replicas must be no greater than 3 (ValidatingAdmissionPolicy replicalimit-policy.example.com, binding replicalimit-binding-test.example.com: Deny)",
		"vap:replicalimit-policy.example.com/0 | high | Deployment test/medium | objects.yaml:37 | object.spec.replicas must be no greater than 3 (ValidatingAdmissionPolicy replicalimit-policy.example.com, binding replicalimit-binding-test.example.com: Deny)",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
