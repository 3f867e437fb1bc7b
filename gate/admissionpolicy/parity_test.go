package admissionpolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/generic"
	"k8s.io/apiserver/pkg/admission/plugin/policy/matching"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/tools/cache"

	"github.com/kubegate/kubegate/gate/manifest"
)

// pluginValidator compiles a policy as the validating plugin does (compilePolicy, which it
// does not export), into the plugin's own Validator.
func pluginValidator(t *testing.T, p *admv1.ValidatingAdmissionPolicy) validating.Validator {
	t.Helper()
	opts := cel.OptionalVariableDeclarations{HasParams: p.Spec.ParamKind != nil, HasAuthorizer: true}
	msgOpts := cel.OptionalVariableDeclarations{HasParams: p.Spec.ParamKind != nil}
	comp, err := cel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	var vars []cel.NamedExpressionAccessor
	for _, v := range p.Spec.Variables {
		vars = append(vars, &validating.Variable{Name: v.Name, Expression: v.Expression})
	}
	comp.CompileAndStoreVariables(vars, opts, environment.StoredExpressions)
	var matcher matchconditions.Matcher
	if len(p.Spec.MatchConditions) > 0 {
		var conds []cel.ExpressionAccessor
		for i := range p.Spec.MatchConditions {
			conds = append(conds, (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i]))
		}
		matcher = matchconditions.NewMatcher(comp.CompileCondition(conds, opts, environment.StoredExpressions), p.Spec.FailurePolicy, "policy", "validate", p.Name)
	}
	vals := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	msgs := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		vals[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		if v.MessageExpression != "" {
			msgs[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
	}
	return validating.NewValidator(comp.CompileCondition(vals, opts, environment.StoredExpressions), matcher,
		comp.CompileCondition(nil, opts, environment.StoredExpressions),
		comp.CompileCondition(msgs, msgOpts, environment.StoredExpressions), p.Spec.FailurePolicy, nil)
}

// recorded are what the plugin did with one request: denied, warned, audited, each with
// the validation's message.
type recorded struct{ deny, warn, audit []string }

type recorder struct{ warnings []string }

func (r *recorder) AddWarning(_, text string) { r.warnings = append(r.warnings, text) }

// annotated keeps the audit annotations the plugin adds to a request.
type annotated struct {
	admission.Attributes
	annotations map[string]string
}

func (a *annotated) AddAnnotation(k, v string) error { a.annotations[k] = v; return nil }

var notAmongInputs = regexp.MustCompile(` \([^()]* is not among the inputs\)$`)

var pluginPrefix = regexp.MustCompile(`^.*(denied request|with binding '[^']*'): `)

// paramInformer serves params to the plugin from objects, as a synced informer would.
type paramInformer struct{ lister cache.GenericLister }

func (p paramInformer) Informer() cache.SharedIndexInformer { return synced{} }
func (p paramInformer) Lister() cache.GenericLister         { return p.lister }

// synced is an informer that has synced; the plugin asks it nothing else.
type synced struct{ cache.SharedIndexInformer }

func (synced) HasSynced() bool { return true }

func newParamInformer(t *testing.T, params []*manifest.Object) paramInformer {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range params {
		if o.Kind != "ConfigMap" {
			continue
		}
		if err := indexer.Add(&unstructured.Unstructured{Object: o.Raw()}); err != nil {
			t.Fatal(err)
		}
	}
	return paramInformer{cache.NewGenericLister(indexer, kschema.GroupResource{Resource: "configmaps"})}
}

// viaPlugin is the validating plugin's dispatch of one request; params are ConfigMaps.
func viaPlugin(t *testing.T, c *compiled, p *admv1.ValidatingAdmissionPolicy, r *request, ns *namespaces, params ...*manifest.Object) recorded {
	t.Helper()
	hook := validating.PolicyHook{Policy: p, Evaluator: pluginValidator(t, p)}
	if p.Spec.ParamKind != nil {
		hook.ParamInformer, hook.ParamScope = newParamInformer(t, params), meta.RESTScopeNamespace
	}
	for _, b := range c.bindings {
		hook.Bindings = append(hook.Bindings, b.ValidatingAdmissionPolicyBinding)
	}
	d := validating.NewDispatcher(noAuthorizer{}, generic.NewPolicyMatcher(matching.NewMatcher(ns, nil)))
	rec := &recorder{}
	attr := &annotated{Attributes: r.attr, annotations: map[string]string{}}
	err := d.Dispatch(warning.WithWarningRecorder(context.Background(), rec), attr, objectInterfaces, []validating.PolicyHook{hook})
	var out recorded
	if err != nil {
		out.deny = append(out.deny, pluginPrefix.ReplaceAllString(err.Error(), ""))
	}
	for _, w := range rec.warnings {
		out.warn = append(out.warn, pluginPrefix.ReplaceAllString(w, ""))
	}
	if v, ok := attr.annotations["validation.policy.admission.k8s.io/validation_failure"]; ok {
		var failures []validating.ValidationFailureValue
		if err := json.Unmarshal([]byte(v), &failures); err != nil {
			t.Fatal(err)
		}
		for _, f := range failures {
			out.audit = append(out.audit, f.Message)
		}
	}
	return out
}

// same says whether kubegate's record is the plugin's. The plugin refuses a request with
// its first denying decision only, where kubegate reports each (one finding per
// validation and param): kubegate must deny when the plugin does, with the plugin's
// message among its own, and warn and audit alike.
func same(got, want recorded) bool {
	sorted := func(l []string) []string { return slices.Sorted(slices.Values(l)) }
	return (len(got.deny) > 0) == (len(want.deny) > 0) && len(want.deny) <= 1 &&
		(len(want.deny) == 0 || slices.Contains(got.deny, want.deny[0])) &&
		slices.Equal(sorted(got.warn), sorted(want.warn)) && slices.Equal(sorted(got.audit), sorted(want.audit))
}

// viaKubegate is kubegate's evaluation of the same request, as the same record.
func viaKubegate(ps *Policies, r *request, ns *namespaces, m *matching.Matcher) recorded {
	var nsObj *corev1.Namespace
	if r.namespace != "" {
		nsObj, _ = ns.Get(r.namespace)
	}
	var out recorded
	for _, f := range ps.evaluatePolicy(context.Background(), ps.policies[0], r, m, nsObj, Options{Severity: DefaultSeverity}) {
		// A policy that could not be configured denies whatever the binding's actions.
		if _, msg, ok := strings.Cut(f.Message, " could not be applied (failurePolicy Fail denies): "); ok {
			out.deny = append(out.deny, notAmongInputs.ReplaceAllString(msg, "")) // kubegate's word on why, after the plugin's
			continue
		}
		msg, actions, _ := strings.Cut(f.Message, " (ValidatingAdmissionPolicy ")
		msg = strings.TrimSuffix(msg, defaultingHint) // kubegate's word on why, after the plugin's
		for _, a := range strings.Split(actions[strings.LastIndex(actions, ": ")+2:len(actions)-1], ", ") {
			switch a {
			case "Deny":
				out.deny = append(out.deny, msg)
			case "Warn":
				out.warn = append(out.warn, msg)
			case "Audit":
				out.audit = append(out.audit, msg)
			}
		}
	}
	return out
}

// loadPolicy loads the policy and binding of text with others, and reads the policy as
// the API server keeps it (defaulted), for the plugin.
func loadPolicy(t *testing.T, text string, others []*manifest.Object) (*Policies, *admv1.ValidatingAdmissionPolicy) {
	t.Helper()
	pobjs := decode(text, "policy.yaml")
	ps, errs := Load(append(pobjs, others...), "")
	if len(errs) > 0 {
		t.Fatalf("%s", errs)
	}
	var p admv1.ValidatingAdmissionPolicy
	if err := fromTree(pobjs[0], &p); err != nil {
		t.Fatal(err)
	}
	defaultPolicy(&p)
	return ps, &p
}

// For each validation action and failure policy, and for validations that pass, fail,
// err, and matchConditions that skip or err, kubegate's verdict is the plugin's.
func TestParityWithPlugin(t *testing.T) {
	objs := read(t, "testdata/parity/objects.yaml")
	validationsCases := map[string]string{
		"passes": `
  validations:
  - expression: "object.spec.replicas <= 5"`,
		"fails with message": `
  validations:
  - expression: "object.spec.replicas <= 2"
    message: "at most 2 replicas"`,
		"fails with messageExpression": `
  validations:
  - expression: "object.spec.replicas <= 2"
    messageExpression: "'replicas: ' + string(object.spec.replicas) + ' > 2'"`,
		"second of two fails": `
  validations:
  - expression: "object.spec.replicas <= 5"
  - expression: "object.metadata.name != 'web'"`,
		"errs (no such field)": `
  validations:
  - expression: "object.spec.paused == true"`,
		"matchCondition skips": `
  matchConditions:
  - name: only-api
    expression: "object.metadata.name == 'api'"
  validations:
  - expression: "object.spec.replicas <= 2"`,
		"matchCondition errs": `
  matchConditions:
  - name: broken
    expression: "object.spec.paused == true"
  validations:
  - expression: "object.spec.replicas <= 2"`,
		"variables": `
  variables:
  - name: many
    expression: "object.spec.replicas > 2"
  validations:
  - expression: "!variables.many"
    messageExpression: "'too many: ' + string(object.spec.replicas)"`,
		"authorizer": `
  validations:
  - expression: "authorizer.group('apps').resource('deployments').check('create').allowed()"`,
	}
	bindingCases := map[string]string{
		"all":                "",
		"namespace selector": "\n  matchResources:\n    namespaceSelector:\n      matchLabels: {environment: test}",
		"object selector":    "\n  matchResources:\n    objectSelector:\n      matchLabels: {tier: front}",
	}
	ns := newNamespaces(objs)
	m := matching.NewMatcher(ns, nil)
	checked := 0
	for name, vals := range validationsCases {
		for _, failure := range []string{"Fail", "Ignore"} {
			for _, actions := range []string{"[Deny]", "[Warn]", "[Audit]", "[Warn, Audit]", "[Deny, Audit]"} {
				for bname, match := range bindingCases {
					text := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: parity
spec:
  failurePolicy: %s
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE"]
      resources: ["deployments"]%s
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: parity-binding
spec:
  policyName: parity
  validationActions: %s%s
`, failure, vals, actions, match)
					ps, p := loadPolicy(t, text, objs)
					for _, o := range objs {
						r := newRequest(o, ps.params.api, "")
						want, got := viaPlugin(t, ps.policies[0], p, r, ns), viaKubegate(ps, r, ns, m)
						if !same(got, want) {
							t.Errorf("%s, failurePolicy %s, %s, binding %s, %s:\n got  %+v\n want %+v", name, failure, actions, bname, o.Ref(), got, want)
						}
						checked++
					}
				}
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d verdicts compared", checked)
	}
}

// Params, by name and by selector, present and missing, with parameterNotFoundAction
// Deny and Allow: kubegate's verdict is the plugin's.
func TestParamParityWithPlugin(t *testing.T) {
	objs := read(t, "testdata/parity/objects.yaml")
	params := `apiVersion: v1
kind: ConfigMap
metadata: {name: limit, namespace: test, labels: {limits: replicas}}
data: {max: "2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: test, labels: {limits: replicas}}
data: {max: "5"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: limit, namespace: prod}
data: {max: "0"}
`
	paramObjs := decode(params, "params.yaml")
	ns := newNamespaces(objs)
	m := matching.NewMatcher(ns, nil)
	checked := 0
	for name, ref := range map[string]string{
		"by name in the object's namespace": "name: limit",
		"by name in a set namespace":        "name: limit\n    namespace: test",
		"by selector":                       "selector: {matchLabels: {limits: replicas}}",
		"by selector, everything":           "selector: {}",
	} {
		for _, action := range []string{"Deny", "Allow"} {
			for _, failure := range []string{"Fail", "Ignore"} {
				text := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: parity
spec:
  failurePolicy: %s
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
  - expression: "object.spec.replicas <= int(params.data.max)"
    messageExpression: "'at most ' + params.data.max + ' (' + params.metadata.name + ')'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: parity-binding
spec:
  policyName: parity
  validationActions: [Deny]
  paramRef:
    %s
    parameterNotFoundAction: %s
`, failure, strings.ReplaceAll(ref, "\\n", "\n"), action)
				ps, p := loadPolicy(t, text, slices.Concat(paramObjs, objs))
				for _, o := range objs {
					if o.Kind != "Deployment" || o.Namespace == "" {
						continue // the plugin refuses a namespaced param for a cluster-scoped request alike
					}
					r := newRequest(o, ps.params.api, "")
					want, got := viaPlugin(t, ps.policies[0], p, r, ns, slices.Concat(paramObjs, objs)...), viaKubegate(ps, r, ns, m)
					if !same(got, want) {
						t.Errorf("%s, parameterNotFoundAction %s, failurePolicy %s, %s:\n got  %+v\n want %+v", name, action, failure, o.Ref(), got, want)
					}
					checked++
				}
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d verdicts compared", checked)
	}
}
