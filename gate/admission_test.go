package gate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/admissionpolicy"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
	"github.com/kubegate/kubegate/gate/rules"
)

const docsPolicies = "admissionpolicy/testdata/docs"

// vapFindings are the findings of admission policies and custom rules on objects of file,
// in brief.
func vapFindings(res *Result, file string, ids ...string) []string {
	var out []string
	for _, f := range res.Findings {
		// The policies judge one another too, as the API server would their creation
		// (TestAdmissionPolicyFindingsFollowThePolicy): left out here.
		if filepath.Base(f.Source.File) == file && (strings.HasPrefix(f.RuleID, "vap:") || slices.Contains(ids, f.RuleID)) &&
			!strings.HasPrefix(f.Object.Kind, "ValidatingAdmissionPolicy") {
			out = append(out, f.Source.String()+" "+f.Severity.String()+" "+f.RuleID+" "+f.Object.String()+": "+f.Message)
		}
	}
	slices.Sort(out)
	return out
}

// Policies among the checked inputs, given with --admission-policies, or read from
// standard input judge the objects alike; objects released as they were rendered are
// rendered again whole when the inputs turn out to hold policies.
func TestAdmissionPoliciesEveryWay(t *testing.T) {
	objects := filepath.Join(docsPolicies, "objects.yaml")
	files := []string{"replicas.yaml", "params.yaml", "conditions.yaml", "variables.yaml"}
	var given []string
	var stdin bytes.Buffer
	data, _ := os.ReadFile(objects)
	stdin.Write(data)
	for _, f := range files {
		given = append(given, filepath.Join(docsPolicies, f))
		data, err := os.ReadFile(filepath.Join(docsPolicies, f))
		if err != nil {
			t.Fatal(err)
		}
		stdin.WriteString("---\n")
		stdin.Write(data)
	}
	run := func(paths, policies []string, in *bytes.Buffer) *Result {
		opts := Options{Paths: paths, AdmissionPolicies: policies, Offline: true}
		if in != nil {
			opts.Render = render.Options{Stdin: in}
		}
		res := Run(context.Background(), opts)
		if len(res.Errors) > 0 {
			t.Fatalf("errors: %v", res.Errors)
		}
		return res
	}
	flag := vapFindings(run([]string{objects}, given, nil), "objects.yaml")
	if len(flag) != 5 {
		t.Fatalf("with --admission-policies: %d findings of the policies, want 5:\n%s", len(flag), strings.Join(flag, "\n"))
	}
	among := vapFindings(run([]string{docsPolicies}, nil, nil), "objects.yaml")
	if !slices.Equal(among, flag) {
		t.Errorf("policies among the inputs:\n%s\nwith --admission-policies:\n%s", strings.Join(among, "\n"), strings.Join(flag, "\n"))
	}
	var piped []string
	for _, f := range vapFindings(run([]string{"-"}, nil, &stdin), "<stdin>") {
		piped = append(piped, strings.TrimPrefix(f, "<stdin>"))
	}
	var flagLines []string
	for _, f := range flag {
		flagLines = append(flagLines, strings.Replace(f, objects+":", ":", 1))
	}
	if !slices.Equal(piped, flagLines) {
		t.Errorf("policies on standard input:\n%s\nwant:\n%s", strings.Join(piped, "\n"), strings.Join(flagLines, "\n"))
	}
	// A path without a policy is not a silent pass.
	res := Run(context.Background(), Options{Paths: []string{objects}, AdmissionPolicies: []string{objects}, Offline: true})
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Msg, "no ValidatingAdmissionPolicy or binding") || res.ExitCode() != 2 {
		t.Errorf("--admission-policies without a policy: %v, exit %d", res.Errors, res.ExitCode())
	}
}

// The findings of admission policies and custom rules are the policy file's to judge, as
// the built-ins': exemptions, severity overrides, the validationActions' severities.
func TestAdmissionPolicyFindingsFollowThePolicy(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(docsPolicies, "objects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	replicas, _ := os.ReadFile(filepath.Join(docsPolicies, "replicas.yaml"))
	conditions, _ := os.ReadFile(filepath.Join(docsPolicies, "conditions.yaml"))
	text := string(data) + "---\n" + string(replicas) + "---\n" + string(conditions)
	custom := `rules:
  custom:
  - id: require-team-label
    title: Deployments name their team
    severity: high
    fix: Label the Deployment with team.
    match: {kinds: [apps/Deployment]}
    expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
    message: the Deployment has no team label
`
	for _, tc := range []struct {
		name, policy string
		want         []string
	}{
		{"defaults", custom, []string{
			"app.yaml:18 high require-team-label Deployment test/small: the Deployment has no team label",
			"app.yaml:33 high require-team-label Deployment test/medium: the Deployment has no team label",
			"app.yaml:48 high require-team-label Deployment test/large: the Deployment has no team label",
			"app.yaml:52 high vap:demo-policy.example.com/0 Deployment test/large: failed expression: object.spec.replicas <= 5 (ValidatingAdmissionPolicy demo-policy.example.com, binding demo-binding-test.example.com: Deny)",
			"app.yaml:63 high require-team-label Deployment prod/large: the Deployment has no team label",
			"app.yaml:81 high require-team-label Deployment prod/exempt: the Deployment has no team label",
			"app.yaml:93 low vap:demo-policy.example.com-conditions/0 ConfigMap test/demo-settings: failed expression: !object.metadata.name.contains('demo') || object.metadata.namespace == 'demo' (ValidatingAdmissionPolicy demo-policy.example.com-conditions, binding demo-binding-conditions: Warn, Audit)",
		}},
		{"severity overrides and remapped actions", custom + `  severity:
    require-team-label: info
    vap:demo-policy.example.com/0: critical
  settings:
    admissionPolicyActions: {Warn: medium}
exemptions:
- rule: require-team-label
  namespace: prod
  owner: platform
  reason: legacy
  expires: 2027-01-31
- rule: "vap:demo-policy.example.com-conditions/*"
  owner: platform
  reason: settings names are fine
  expires: 2027-01-31
`, []string{
			"app.yaml:18 info require-team-label Deployment test/small: the Deployment has no team label",
			"app.yaml:33 info require-team-label Deployment test/medium: the Deployment has no team label",
			"app.yaml:48 info require-team-label Deployment test/large: the Deployment has no team label",
			"app.yaml:52 critical vap:demo-policy.example.com/0 Deployment test/large: failed expression: object.spec.replicas <= 5 (ValidatingAdmissionPolicy demo-policy.example.com, binding demo-binding-test.example.com: Deny)",
		}},
		{"disabled", custom + "  disable: [require-team-label, vap:demo-policy.example.com/0]\n", []string{
			"app.yaml:93 low vap:demo-policy.example.com-conditions/0 ConfigMap test/demo-settings: failed expression: !object.metadata.name.contains('demo') || object.metadata.namespace == 'demo' (ValidatingAdmissionPolicy demo-policy.example.com-conditions, binding demo-binding-conditions: Warn, Audit)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkText(t, text, tc.policy)
			if len(res.Errors) > 0 {
				t.Fatal(res.Errors)
			}
			if got := vapFindings(res, "app.yaml", "require-team-label"); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, id := range []string{"require-team-label", "vap:demo-policy.example.com/0"} {
				if r, ok := res.Rule(id); !ok || r.Title == "" {
					t.Errorf("the result does not describe rule %s", id)
				}
			}
		})
	}
	// The conditions policy matches every resource, the policies themselves too: a
	// cluster-scoped one has no metadata.namespace, the expression errs, and
	// failurePolicy Fail denies (here, warns) its creation.
	res := checkText(t, text, "")
	n := 0
	for _, f := range res.Findings {
		if strings.HasPrefix(f.Object.Kind, "ValidatingAdmissionPolicy") {
			n++
			if f.RuleID != "vap:demo-policy.example.com-conditions/0" || !strings.Contains(f.Message, "no such key: namespace") {
				t.Errorf("a policy judged: %s %s", f.RuleID, f.Message)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d findings on the policies and bindings, want 4 (each is named demo and has no namespace)", n)
	}
	// A vap: rule the policy file names that no policy has is said, not ignored.
	res = checkText(t, text, "rules:\n  severity:\n    vap:demo-policy.example.com/7: critical\n")
	if !slices.Contains(res.Notes, "admission policies: kubegate.yaml names vap:demo-policy.example.com/7, which no admission policy among the inputs has (rules: vap:<policy>/<validation index>, vap:<policy>)") {
		t.Errorf("notes: %q", res.Notes)
	}
	// Warn remapped to medium fails the gate at failOn medium.
	res = checkText(t, text, "rules:\n  settings:\n    admissionPolicyActions: {Warn: medium}\n  disable: [vap:demo-policy.example.com/0]\n")
	fails := slices.ContainsFunc(res.Findings, func(f finding.Finding) bool {
		return strings.HasPrefix(f.RuleID, "vap:demo-policy.example.com-conditions") && res.Fails(f)
	})
	if !fails {
		t.Error("a Warn remapped to medium does not fail the gate")
	}
}

// A custom rule's expression is compiled when the policy file is read: a mistake is an
// error at its line, never a rule that passes everything.
func TestCustomRuleErrors(t *testing.T) {
	text := `apiVersion: kubegate.dev/v1alpha1
kind: Policy
rules:
  custom:
  - id: broken
    title: Broken
    match: {kinds: [Deployment]}
    expression: "object.spec.replicas >"
  - id: not-bool
    title: Not a condition
    match: {kinds: [Deployment]}
    expression: "object.metadata.name"
  - id: pss-privileged
    title: Shadows a built-in
    match: {kinds: []}
    expression: "true"
`
	_, err := policy.Parse([]byte(text), "kubegate.yaml", rules.Catalogue())
	want := `kubegate.yaml:13: custom rule id "pss-privileged" is a built-in rule's (see ` + "`kubegate rules pss-privileged`" + `): choose another
kubegate.yaml:13: custom rule pss-privileged needs match.kinds (Deployment, apps/Deployment, or * for every object)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	p, err := policy.Parse([]byte(text[:strings.Index(text, "  - id: pss-privileged")]), "kubegate.yaml", rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	err = admissionpolicy.CheckCustom(p)
	if err == nil || !strings.HasPrefix(err.Error(), "kubegate.yaml:8: custom rule broken: expression: compilation failed: ERROR: <input>:1:23: Syntax error") ||
		!strings.Contains(err.Error(), "kubegate.yaml:12: custom rule not-bool: expression: must evaluate to bool but got dyn") {
		t.Errorf("got %v", err)
	}
}
