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

// decode decodes YAML text, named file, into objects.
func decode(text, file string) []*manifest.Object {
	var out []*manifest.Object
	for _, d := range manifest.Decode([]byte(text), manifest.Source{File: file}) {
		out = append(out, d.Objects...)
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
	fs, notes := ps.Evaluate(context.Background(), objs, Options{})
	if len(notes) > 0 {
		t.Errorf("notes: %v", notes)
	}
	got := verdicts(fs)
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

// Each mistake in a policy is an error at its file and line, and nothing is evaluated
// silently without the policy it concerns.
func TestLoadErrors(t *testing.T) {
	objs := read(t, filepath.Join("testdata", "errors", "policies.yaml"))
	ps, errs := Load(objs, "")
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		"testdata/errors/policies.yaml:13: ValidatingAdmissionPolicy does-not-compile: spec.validations[0].expression: compilation failed: ERROR: <input>:1:24: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n | object.spec.replicas <=\n | .......................^",
		"testdata/errors/policies.yaml:14: ValidatingAdmissionPolicy does-not-compile: spec.validations[1].expression: must evaluate to bool but got dyn",
		"testdata/errors/policies.yaml:16: ValidatingAdmissionPolicy does-not-compile: spec.validations[2].messageExpression: compilation failed: ERROR: <input>:1:1: undeclared reference to 'params' (in container '')\n | params.max\n | ^",
		"testdata/errors/policies.yaml:48: ValidatingAdmissionPolicyBinding to-nothing binds policy \"no-such-policy\", which is not among the inputs (policies: needs-params); give it with --admission-policies",
		"testdata/errors/policies.yaml:59: ValidatingAdmissionPolicyBinding missing-param: param ReplicaLimit default/absent (paramKind of policy needs-params) is not among the inputs; give it with --admission-policies, as CI cannot read the cluster's",
		"testdata/errors/policies.yaml:67: ValidatingAdmissionPolicyBinding no-actions sets no validationActions (Deny, Warn or Audit): the API server rejects it",
		"testdata/errors/policies.yaml:81: ValidatingAdmissionPolicy misspelled: strict decoding error: unknown field \"spec.validation\"",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The policies with errors are left out: the errors fail the run.
	if len(ps.policies) != 1 || ps.policies[0].name != "needs-params" || len(ps.policies[0].bindings) != 0 {
		t.Errorf("policies kept: %+v", ps.policies)
	}
}

// A binding that selects namespaces by label cannot tell what an unknown namespace is
// labelled: the run says so rather than pass in silence.
func TestUnknownNamespaceIsNoted(t *testing.T) {
	objs := append(read(t, filepath.Join("testdata", "docs", "replicas.yaml")),
		decode("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {replicas: 9}\n", "web.yaml")...)
	ps, errs := Load(objs, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	fs, notes := ps.Evaluate(context.Background(), objs[len(objs)-1:], Options{})
	want := "admission policies: demo-policy.example.com selects namespaces by label, and namespace shop is not among the inputs: 1 objects there were judged as if it had no label but kubernetes.io/metadata.name; add the Namespace objects to the inputs or to --admission-policies"
	if len(fs) != 0 || len(notes) != 1 || notes[0] != want {
		t.Errorf("findings %v, notes %q", fs, notes)
	}
}

// Params selected by label in the namespace of each object, as the plugin's
// CollectParams finds them: every param judges, a missing one follows
// parameterNotFoundAction.
func TestParamsBySelector(t *testing.T) {
	text := func(action string) string {
		return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replica-limits}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
  - expression: "object.spec.replicas <= int(params.data.max)"
    messageExpression: "'at most ' + params.data.max + ' replicas (' + params.metadata.name + ')'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: replica-limits}
spec:
  policyName: replica-limits
  validationActions: [Deny]
  paramRef:
    selector: {matchLabels: {limits: replicas}}
    parameterNotFoundAction: ` + action + `
---
apiVersion: v1
kind: ConfigMap
metadata: {name: limit, namespace: team-a, labels: {limits: replicas}}
data: {max: "3"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: loose, namespace: team-c, labels: {limits: replicas}}
data: {max: "10"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: strict, namespace: team-c, labels: {limits: replicas}}
data: {max: "2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unlabelled, namespace: team-b}
data: {max: "1"}
`
	}
	deployments := ""
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		deployments += "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: " + ns + "}\nspec: {replicas: 5}\n"
	}
	for action, want := range map[string][]string{
		"Deny": {
			"vap:replica-limits | high | Deployment team-b/web | objects.yaml:7 | ValidatingAdmissionPolicy replica-limits with binding replica-limits could not be applied (failurePolicy Fail denies): failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction (ConfigMap selected by limits=replicas in namespace \"team-b\" is not among the inputs)",
			"vap:replica-limits/0 | high | Deployment team-a/web | objects.yaml:5 | at most 3 replicas (limit) (ValidatingAdmissionPolicy replica-limits, binding replica-limits: Deny)",
			"vap:replica-limits/0 | high | Deployment team-c/web | objects.yaml:15 | at most 2 replicas (strict) (ValidatingAdmissionPolicy replica-limits, binding replica-limits: Deny)",
		},
		"Allow": {
			"vap:replica-limits/0 | high | Deployment team-a/web | objects.yaml:5 | at most 3 replicas (limit) (ValidatingAdmissionPolicy replica-limits, binding replica-limits: Deny)",
			"vap:replica-limits/0 | high | Deployment team-c/web | objects.yaml:15 | at most 2 replicas (strict) (ValidatingAdmissionPolicy replica-limits, binding replica-limits: Deny)",
		},
	} {
		objs, checked := decode(text(action), "policy.yaml"), decode(deployments, "objects.yaml")
		ps, errs := Load(append(objs, checked...), "")
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		fs, _ := ps.Evaluate(context.Background(), checked, Options{})
		if got := verdicts(fs); !slices.Equal(got, want) {
			t.Errorf("parameterNotFoundAction %s: got\n%s\nwant\n%s", action, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// Every finding's rule is described for the reports, the policy's own included.
		for _, f := range fs {
			if !slices.ContainsFunc(ps.Rules, func(r *finding.Rule) bool { return r.ID == f.RuleID && r.Fix != "" }) {
				t.Errorf("rule %s is not described", f.RuleID)
			}
		}
	}
}
