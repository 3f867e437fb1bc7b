package gate

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"

	"github.com/kubegate/kubegate/gate/admissionpolicy"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
	"github.com/kubegate/kubegate/gate/rules"
)

// verdictPairs are "rule object" for every finding, once.
func verdictPairs(ids []string, refs []manifest.Ref) []string {
	var out []string
	for i := range ids {
		out = append(out, ids[i]+" "+refs[i].String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// compareGenerated judges objs with the built-in rules that generate admission-policies
// writes, and with the policies it writes evaluated by the CI evaluator: the same objects
// fail the same rules.
func compareGenerated(t *testing.T, name string, objs []*manifest.Object, ps *admissionpolicy.Policies, p *policy.Policy, namespace string) int {
	t.Helper()
	set := model.NewSet(objs, model.Options{Policy: p, Namespace: namespace})
	var ids []string
	var refs []manifest.Ref
	for _, f := range rules.Run(set, func(id string) bool { return slices.Contains(admissionpolicy.GeneratedRules(), id) }) {
		ids, refs = append(ids, f.RuleID), append(refs, f.Object)
	}
	want := verdictPairs(ids, refs)
	ids, refs = nil, nil
	fs, _ := ps.Evaluate(context.Background(), slices.DeleteFunc(slices.Clone(objs), model.ConfigKind), admissionpolicy.Options{Namespace: namespace})
	for _, f := range fs {
		policyName, _, _ := strings.Cut(strings.TrimPrefix(f.RuleID, "vap:"), "/")
		id, ok := admissionpolicy.RuleOfPolicy(policyName)
		if !ok {
			t.Fatalf("%s: finding of %s", name, f.RuleID)
		}
		ids, refs = append(ids, id), append(refs, f.Object)
	}
	got := verdictPairs(ids, refs)
	if !slices.Equal(got, want) {
		var extra, missing []string
		for _, g := range got {
			if !slices.Contains(want, g) {
				extra = append(extra, g)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing = append(missing, w)
			}
		}
		t.Errorf("%s: the generated policies fail\n  %s\nwhich the rules pass, and pass\n  %s\nwhich the rules fail", name, strings.Join(extra, "\n  "), strings.Join(missing, "\n  "))
	}
	return len(want)
}

// generatedPolicies are the policies generate admission-policies writes, compiled once:
// they read no params, so the objects they judge need not be loaded with them.
func generatedPolicies(t *testing.T, p *policy.Policy) *admissionpolicy.Policies {
	t.Helper()
	out, err := admissionpolicy.Generate(p, admv1.Deny)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*manifest.Object
	for _, d := range manifest.Decode(out, manifest.Source{File: "generated.yaml"}) {
		objs = append(objs, d.Objects...)
	}
	ps, errs := admissionpolicy.Load(objs, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return ps
}

// TestGeneratedPoliciesMatchTheRules: what kubegate generate admission-policies writes,
// evaluated by the CI evaluator, fails exactly the objects the built-in rules fail — on
// the hardened application and each of its defects, and on every input the repository
// holds (upstream charts with their CI values, Kustomize overlays, the goldens), with
// and without -n, under both profiles and a token limit.
func TestGeneratedPoliciesMatchTheRules(t *testing.T) {
	baseline, err := policy.Parse([]byte("apiVersion: kubegate.dev/v1alpha1\nkind: Policy\nprofile: baseline\nrules:\n  settings:\n    maxTokenExpirationSeconds: 3600\n"), "kubegate.yaml", rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	failing := 0
	for _, p := range []*policy.Policy{policy.Default(), baseline} {
		generated := generatedPolicies(t, p)
		app := readHardened(t)
		decode := func(text string) []*manifest.Object {
			var objs []*manifest.Object
			for _, d := range manifest.Decode([]byte(text), manifest.Source{File: "app.yaml"}) {
				objs = append(objs, d.Objects...)
			}
			return objs
		}
		if n := compareGenerated(t, "hardened app", decode(app), generated, p, ""); n != 0 {
			t.Errorf("the hardened app fails %d generated rules", n)
		}
		for _, d := range defects {
			text := app
			for _, e := range d.edits {
				text = strings.Replace(text, e.from, e.to, 1)
			}
			if d.add != "" {
				text += "---\n" + d.add
			}
			failing += compareGenerated(t, "defect "+d.rule, decode(text), generated, p, "")
		}
		inputs := []string{"testdata/generated-policies", "../testdata/demo", "../testdata/hardened"}
		for _, pattern := range []string{"../testdata/upstream/charts/*", "../testdata/upstream/kustomize/*/", "../testdata/upstream/golden/*.yaml"} {
			m, _ := filepath.Glob(pattern)
			inputs = append(inputs, m...)
		}
		for _, in := range inputs {
			values, _ := filepath.Glob(filepath.Join(in, "ci", "*.yaml"))
			for _, v := range append([]string{""}, values...) {
				for _, ns := range []string{"", "team"} {
					opts := render.Options{Namespace: ns, Settle: func(o *manifest.Object) { o.KeepText(false) }}
					if v != "" {
						opts.ValuesFiles = []string{v}
					}
					r := render.Render([]string{in}, opts)
					failing += compareGenerated(t, in+" "+v+" -n "+ns, r.Objects, generated, p, ns)
				}
			}
		}
	}
	t.Logf("%d failing verdicts compared", failing)
	if failing < 200 {
		t.Errorf("only %d failing verdicts compared: inputs missing", failing)
	}
	_ = context.Background
}
