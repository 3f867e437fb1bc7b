package gate

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
	"github.com/kubegate/kubegate/gate/rules"
)

// TestReleaseChangesNothing: Run releases each object's decoded tree as soon as it is
// rendered (model.Settle); the report must be the one of a run that keeps every tree
// (KeepObjects), on every input the repository holds — charts with their CI values,
// Kustomize overlays with patches, the goldens, the control-plane files, custom
// resources with their definitions (one inside a List), objects that do not decode — with
// the schema rules on and off, and with -n.
func TestReleaseChangesNothing(t *testing.T) {
	inputs := []string{"../testdata/demo", "../testdata/hardened", "../testdata/controlplane/hardened",
		"../testdata/controlplane/insecure", "testdata/release"}
	for _, pattern := range []string{"../testdata/upstream/charts/*", "../testdata/upstream/kustomize/*/", "../testdata/upstream/golden/*.yaml"} {
		m, _ := filepath.Glob(pattern)
		inputs = append(inputs, m...)
	}
	noSchema, err := policy.Parse([]byte(`apiVersion: kubegate.dev/v1alpha1
kind: Policy
rules:
  disable: [schema-unknown-api-version, schema-unknown-kind, schema-unknown-field, schema-invalid-value]
`), "kubegate.yaml", rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	variants := []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"schema rules off", Options{Policy: noSchema}},
		{"-n team", Options{Render: render.Options{Namespace: "team"}}},
	}
	runs, findings := 0, 0
	for _, in := range inputs {
		values, _ := filepath.Glob(filepath.Join(in, "ci", "*.yaml"))
		for _, v := range append([]string{""}, values...) {
			for _, variant := range variants {
				opts := variant.opts
				opts.Paths, opts.Offline = []string{in}, true
				if v != "" {
					opts.Render.ValuesFiles = []string{v}
				}
				kept := opts
				kept.KeepObjects = true
				want, got := report(t, Run(context.Background(), kept)), report(t, Run(context.Background(), opts))
				if got != want {
					i := 0
					for i < min(len(got), len(want)) && got[i] == want[i] {
						i++
					}
					from := max(0, i-300)
					t.Errorf("%s %s (%s): the report changes when trees are released, at:\nkept:     …%.600s\nreleased: …%.600s", in, v, variant.name, want[from:], got[from:])
				}
				findings += strings.Count(want, `"RuleID"`)
				runs++
			}
		}
	}
	if runs < 60 || findings < 1000 {
		t.Fatalf("only %d runs and %d findings: inputs missing", runs, findings)
	}
}

func report(t *testing.T, r *Result) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
