package gate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/render"
)

// schemaVerdict is kubeconform's word for one input: valid, invalid (a schema finding)
// or error (the input cannot be read as Kubernetes objects).
func schemaVerdict(r *Result) string {
	if len(r.Errors) > 0 {
		return "error"
	}
	for _, f := range r.Findings {
		if strings.HasPrefix(f.RuleID, "schema-") {
			return "invalid"
		}
	}
	return "valid"
}

// TestSchemaMatchesKubeconform: kubegate reaches kubeconform's -strict verdict on its own
// fixtures (testdata/kubeconform, from its acceptance tests). One deliberate difference:
// a custom resource whose definition is not among the inputs is noted as not validated
// (kubeconform -ignore-missing-schemas) rather than failing, since kubegate never fetches
// schemas.
func TestSchemaMatchesKubeconform(t *testing.T) {
	want := map[string]string{
		"valid.yaml": "valid", "valid.json": "valid", "int_or_string.yaml": "valid",
		"generate_name.yaml": "valid", "quantity.yaml": "valid", "null_string.yaml": "valid",
		"multi_valid.yaml": "valid", "list_valid.yaml": "valid", "list_empty_valid.yaml": "valid",
		"multi_with_list.yaml": "valid", "test_crd.yaml": "valid",
		"invalid.yaml": "invalid", "list_invalid.yaml": "invalid",
		// A Service whose port is a string cannot be decoded for the rules: an input error
		// (exit 2) at the field, stronger than kubeconform's invalid (exit 1).
		"multi_invalid.yaml":      "error",
		"extra_property.yaml":     "invalid",
		"duplicate_property.yaml": "error", // a duplicate key: an input error here, invalid there
		"missing_kind.yaml":       "error", "missing_apiversion.yaml": "error", "missing_kind_value.yaml": "error",
		"blank.yaml": "error", "comment.yaml": "error", // no objects in a file named explicitly
	}
	files, _ := filepath.Glob("schema/testdata/kubeconform/*.*")
	for _, f := range files {
		name := filepath.Base(f)
		if name == "LICENSE" || name == "README.md" {
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: no expected verdict", name)
			continue
		}
		r := Run(context.Background(), Options{Paths: []string{f}, Offline: true})
		if got := schemaVerdict(r); got != w {
			t.Errorf("%s: %s, kubeconform says %s\nerrors %v\n%s", name, got, w, r.Errors, findingsText(r.Findings))
		}
		if name == "test_crd.yaml" && !slices.ContainsFunc(r.Notes, func(n string) bool {
			return n == "schema: not validated (no schema among the inputs or built in): sagemaker.aws.amazon.com/v1 TrainingJob"
		}) {
			t.Errorf("no note on the custom resource not validated: %q", r.Notes)
		}
	}
}

// TestSchemaOfCustomResources: a custom resource is validated against its
// CustomResourceDefinition when the definition is among the inputs (cert-manager's, from
// its chart), metadata against ObjectMeta.
func TestSchemaOfCustomResources(t *testing.T) {
	dir := t.TempDir()
	cr := "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: web\n  namespace: shop\n  lables: {a: b}\n" +
		"spec:\n  secretName: web-tls\n  dnsNames: [shop.example.com]\n  duration: 2160h\n  isCA: \"yes\"\n  issuerRef:\n    name: letsencrypt\n    kind: ClusterIssuer\n  privatKey:\n    algorithm: ECDSA\n"
	if err := os.WriteFile(filepath.Join(dir, "cert.yaml"), []byte(cr), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), Options{
		Paths:   []string{"../testdata/upstream/charts/cert-manager", filepath.Join(dir, "cert.yaml")},
		Render:  render.Options{SetValues: []string{"crds.enabled=true"}},
		Offline: true,
	})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	var got []string
	for _, f := range r.Findings {
		if strings.HasPrefix(f.RuleID, "schema-") {
			got = append(got, f.Source.String()+" "+f.RuleID+" "+f.Message)
		}
	}
	cert := filepath.Join(dir, "cert.yaml")
	want := []string{
		cert + `:6 schema-unknown-field unknown field "lables": the API server drops it silently`,
		cert + `:11 schema-invalid-value spec.isCA: expected boolean, got "yes"`,
		cert + `:15 schema-unknown-field unknown field "privatKey": the API server drops it silently`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range r.Notes {
		if strings.Contains(n, "cert-manager.io") {
			t.Errorf("cert-manager's kinds noted as not validated: %s", n)
		}
	}
}

// TestSchemaFieldPaths: problems under keys holding dots and in lists keyed by name point at
// the field's own line, all of them.
func TestSchemaFieldPaths(t *testing.T) {
	text := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: shop\n  labels:\n    app.kubernetes.io/name: 3\n" +
		"spec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec:\n      containers:\n" +
		"      - name: a\n        image: a@sha256:0000000000000000000000000000000000000000000000000000000000000000\n        imagePullPolicyy: Always\n        securityContex: {}\n" +
		"      - name: b\n        image: b@sha256:0000000000000000000000000000000000000000000000000000000000000000\n        env:\n        - name: X\n          valueFrum: y\n"
	res := checkText(t, text, "")
	var got []string
	for _, f := range res.Findings {
		if strings.HasPrefix(f.RuleID, "schema-") {
			got = append(got, f.Source.String()+" "+f.Field)
		}
	}
	want := []string{
		`app.yaml:7 metadata.labels["app.kubernetes.io/name"]`,
		// Two unknown fields of one mapping: the library stops at the first, kubegate
		// reports both, in the same order every run.
		`app.yaml:16 spec.template.spec.containers[0].imagePullPolicyy`,
		`app.yaml:17 spec.template.spec.containers[0].securityContex`,
		`app.yaml:22 spec.template.spec.containers[1].env[0].valueFrum`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings at %q, want %q\n%s", got, want, findingsText(res.Findings))
	}
}

// TestSchemaOff: with every schema rule disabled there are no schema findings and no note.
func TestSchemaOff(t *testing.T) {
	text := "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\n---\napiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: d, namespace: shop}\n"
	on := checkText(t, text, "")
	off := checkText(t, text, "rules:\n  disable: [schema-unknown-api-version, schema-unknown-kind, schema-unknown-field, schema-invalid-value]\n")
	if len(on.Findings) == 0 || !slices.ContainsFunc(on.Notes, func(n string) bool { return strings.HasPrefix(n, "schema: not validated") }) {
		t.Fatalf("schema on: findings %v notes %q", on.Findings, on.Notes)
	}
	if len(off.Findings) != 0 || slices.ContainsFunc(off.Notes, func(n string) bool { return strings.HasPrefix(n, "schema:") }) {
		t.Errorf("schema off: findings %v notes %q", off.Findings, off.Notes)
	}
}
