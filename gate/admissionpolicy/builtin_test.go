package admissionpolicy

import (
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
)

// Every generated policy names a rule of the catalogue, compiles, and has its binding.
func TestGeneratedPoliciesCompile(t *testing.T) {
	for _, id := range GeneratedRules() {
		if _, ok := rules.Lookup(id); !ok {
			t.Errorf("generated rule %s is not in the catalogue", id)
		}
	}
	for _, profile := range []policy.Profile{policy.ProfileRestricted, policy.ProfileBaseline} {
		p := policy.Default()
		p.Profile = profile
		out, err := Generate(p, admv1.Deny)
		if err != nil {
			t.Fatal(err)
		}
		var objs []*manifest.Object
		for _, d := range manifest.Decode(out, manifest.Source{File: "generated.yaml"}) {
			if d.Err != nil {
				t.Fatal(d.Err)
			}
			objs = append(objs, d.Objects...)
		}
		ps, errs := Load(objs, "")
		if len(errs) > 0 || len(ps.Notes) > 0 {
			t.Fatalf("errors %v, notes %v", errs, ps.Notes)
		}
		if len(ps.policies) != len(GeneratedRules()) {
			t.Errorf("%d policies, want %d", len(ps.policies), len(GeneratedRules()))
		}
		for _, c := range ps.policies {
			if id, ok := RuleOfPolicy(c.name); !ok || c.obj.Annotations()[RuleAnnotation] != id || len(c.bindings) != 1 {
				t.Errorf("policy %s: rule %q, %d bindings", c.name, id, len(c.bindings))
			}
		}
	}
}
