package rules

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/render"
)

// TestScopesAreTrue: a check given only the objects of the kinds its rule declares finds
// what it finds given everything, on real inputs (the vendored charts' and kustomizations'
// rendered output, the insecure control plane, the demo). A scope that leaves out a kind
// the check reads would make Run skip it, or change what it finds.
func TestScopesAreTrue(t *testing.T) {
	inputs, _ := filepath.Glob("../../testdata/upstream/golden/*.yaml")
	inputs = append(inputs, "../../testdata/controlplane/insecure", "../../testdata/hardened",
		"../../testdata/demo/chart", "../../testdata/demo/kustomize")
	fired := map[string]bool{}
	for _, in := range inputs {
		r := render.Render([]string{in}, render.Options{})
		if len(r.Errors) > 0 {
			t.Fatalf("%s: %v", in, r.Errors)
		}
		all := model.NewSet(r.Objects, model.Options{})
		for _, e := range built().entries {
			if e.check == nil || slices.Contains(e.scope, "*") {
				continue
			}
			var scoped []*manifest.Object
			for _, o := range r.Objects {
				if slices.Contains(e.scope, o.Kind) {
					scoped = append(scoped, o)
				}
			}
			want, got := keys(e.check(all)), keys(e.check(model.NewSet(scoped, model.Options{})))
			if !slices.Equal(got, want) {
				t.Errorf("%s on %s: with its scope %v it finds %d, with every object %d:\n%v\nvs\n%v", e.rule.ID, in, e.scope, len(got), len(want), got, want)
			}
			if len(want) > 0 {
				fired[e.rule.ID] = true
			}
		}
	}
	// The comparison means something only for rules that find something here.
	t.Logf("%d scoped rules find something", len(fired))
	if len(fired) < 40 {
		t.Errorf("only %d scoped rules find anything in these inputs: %v", len(fired), fired)
	}
}

func keys(fs []finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Key() + "\x00" + f.Message
	}
	slices.Sort(out)
	return out
}
