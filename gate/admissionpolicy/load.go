// Package admissionpolicy enforces CEL admission policies in CI: the
// ValidatingAdmissionPolicies and bindings among the inputs or given with
// --admission-policies, and the custom CEL rules of kubegate.yaml. Expressions are compiled
// and evaluated by the API server's own CEL admission library (k8s.io/apiserver's
// plugin/cel, in the environment the validating plugin builds) and matched by its
// policy/matching; every rendered object is judged as the API server would judge its
// CREATE.
//
// What the library leaves to the plugin — the order of matching, params, failurePolicy,
// the messages — is written here (evaluate.go), because the plugin package itself brings
// client-go's informers and fake clientset into the binary (263 packages more than it
// links: compare `go list -deps ./cmd/kubegate` with and without
// k8s.io/apiserver/pkg/admission/plugin/policy/validating). TestParityWithPlugin and
// TestParamParityWithPlugin hold the two to the same verdicts, through the plugin's own
// dispatcher and validator.
package admissionpolicy

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/parallel"
)

const group = "admissionregistration.k8s.io"

// IsPolicyKind says whether o is a ValidatingAdmissionPolicy or a binding of one: what
// makes a run evaluate admission policies.
func IsPolicyKind(o *manifest.Object) bool {
	return manifest.Group(o.APIVersion) == group &&
		(o.Kind == "ValidatingAdmissionPolicy" || o.Kind == "ValidatingAdmissionPolicyBinding")
}

// Policies are the admission policies of a run, compiled, with the objects their params
// are read from.
type Policies struct {
	policies []*compiled
	custom   []*compiled
	params   *paramIndex
	// Rules describe the rules the findings name: one per validation of each policy
	// (vap:<policy>/<index>), one per custom rule.
	Rules []*finding.Rule
	// Notes are what a user should know and no finding says: a policy without a binding.
	Notes []string
}

// binding is a ValidatingAdmissionPolicyBinding and where it is written.
type binding struct {
	*admv1.ValidatingAdmissionPolicyBinding
	obj *manifest.Object
}

// Load reads the ValidatingAdmissionPolicies and bindings among objs (the checked inputs
// and the --admission-policies inputs), compiles their expressions, and resolves each
// binding's policy and param. Every problem is an error at the file and line of the
// field at fault: an expression that does not compile, a binding to an unknown policy,
// a param that is not among the inputs. A policy with errors is left out; the errors
// fail the run.
// namespace is where objects without one are deployed (-n), "" for kubectl's default.
func Load(objs []*manifest.Object, namespace string) (*Policies, []*manifest.Error) {
	ps := &Policies{params: newParamIndex(objs, namespace)}
	var errs []*manifest.Error
	type source struct {
		p   *admv1.ValidatingAdmissionPolicy
		obj *manifest.Object
	}
	var sources []source
	var bindings []*binding
	defined := map[string]*manifest.Object{}
	for _, o := range objs {
		if !IsPolicyKind(o) {
			continue
		}
		if o.APIVersion != group+"/v1" {
			errs = append(errs, errAt(o, "apiVersion", "%s %s: kubegate reads %s/v1 (GA since Kubernetes 1.30); write it as v1", o.Kind, o.Name, group))
			continue
		}
		switch o.Kind {
		case "ValidatingAdmissionPolicy":
			var p admv1.ValidatingAdmissionPolicy
			if err := fromTree(o, &p); err != nil {
				errs = append(errs, err)
				continue
			}
			if prev := defined[p.Name]; prev != nil {
				errs = append(errs, errAt(o, "metadata.name", "ValidatingAdmissionPolicy %q is defined twice (first at %s)", p.Name, prev.Source))
				continue
			}
			defined[p.Name] = o
			sources = append(sources, source{&p, o})
		case "ValidatingAdmissionPolicyBinding":
			var b admv1.ValidatingAdmissionPolicyBinding
			if err := fromTree(o, &b); err != nil {
				errs = append(errs, err)
				continue
			}
			defaultBinding(&b)
			bindings = append(bindings, &binding{&b, o})
		}
	}
	// Compiling is most of the cost of a policy (a CEL environment of its own, its
	// expressions parsed and checked): on every core.
	compiledOnes := make([]*compiled, len(sources))
	compileErrs := make([][]*manifest.Error, len(sources))
	parallel.For(len(sources), func(i int) { compiledOnes[i], compileErrs[i] = compilePolicy(sources[i].p, sources[i].obj) })
	byName, broken := map[string]*compiled{}, map[string]bool{}
	for i, c := range compiledOnes {
		errs = append(errs, compileErrs[i]...)
		if c == nil {
			broken[sources[i].p.Name] = true // its errors say why; its bindings need not
			continue
		}
		byName[c.name] = c
		ps.policies = append(ps.policies, c)
		ps.Rules = append(ps.Rules, c.rules...)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, b := range bindings {
		c := byName[b.Spec.PolicyName]
		switch {
		case broken[b.Spec.PolicyName]:
		case b.Spec.PolicyName == "":
			errs = append(errs, errAt(b.obj, "spec", "ValidatingAdmissionPolicyBinding %s names no policy (spec.policyName)", b.Name))
		case c == nil:
			errs = append(errs, errAt(b.obj, "spec.policyName", "ValidatingAdmissionPolicyBinding %s binds policy %q, which is not among the inputs (policies: %s); give it with --admission-policies",
				b.Name, b.Spec.PolicyName, orNone(names)))
		case len(b.Spec.ValidationActions) == 0:
			errs = append(errs, errAt(b.obj, "spec", "ValidatingAdmissionPolicyBinding %s sets no validationActions (Deny, Warn or Audit): the API server rejects it", b.Name))
		default:
			if err := ps.params.check(c, b); err != nil {
				errs = append(errs, err)
				continue
			}
			c.bindings = append(c.bindings, b)
		}
	}
	slices.SortStableFunc(errs, func(a, b *manifest.Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	for _, c := range ps.policies {
		if len(c.bindings) == 0 {
			ps.Notes = append(ps.Notes, fmt.Sprintf("admission policies: ValidatingAdmissionPolicy %s (%s) has no binding among the inputs: it is not evaluated, as a cluster would not", c.name, c.obj.Source))
		}
	}
	return ps, errs
}

// Empty says whether there is nothing to evaluate.
func (ps *Policies) Empty() bool { return ps == nil || len(ps.policies) == 0 && len(ps.custom) == 0 }

// fromTree decodes o into its API type strictly: a misspelled field of a policy would
// otherwise be dropped, and the policy would check less than its author wrote.
func fromTree(o *manifest.Object, into runtime.Object) *manifest.Error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Raw(), into, true); err != nil {
		path := ""
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			path = m[1]
		}
		return errAt(o, path, "%s %s: %v", o.Kind, o.Name, err)
	}
	return nil
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// defaultPolicy and defaultBinding set what the API server defaults when the object is
// created (pkg/apis/admissionregistration/v1/defaults.go in Kubernetes), which a file
// leaves unset.
func defaultPolicy(p *admv1.ValidatingAdmissionPolicy) {
	if p.Spec.FailurePolicy == nil {
		f := admv1.Fail
		p.Spec.FailurePolicy = &f
	}
	if p.Spec.MatchConstraints != nil {
		defaultMatch(p.Spec.MatchConstraints)
	}
}

func defaultBinding(b *admv1.ValidatingAdmissionPolicyBinding) {
	if b.Spec.MatchResources != nil {
		defaultMatch(b.Spec.MatchResources)
	}
}

func defaultMatch(m *admv1.MatchResources) {
	if m.NamespaceSelector == nil {
		m.NamespaceSelector = &metav1.LabelSelector{}
	}
	if m.ObjectSelector == nil {
		m.ObjectSelector = &metav1.LabelSelector{}
	}
	if m.MatchPolicy == nil {
		e := admv1.Equivalent
		m.MatchPolicy = &e
	}
	for _, rules := range [][]admv1.NamedRuleWithOperations{m.ResourceRules, m.ExcludeResourceRules} {
		for i := range rules {
			if rules[i].Scope == nil {
				s := admv1.AllScopes
				rules[i].Scope = &s
			}
		}
	}
}

// errAt is an input error at the line of the field path of o.
func errAt(o *manifest.Object, path, format string, args ...any) *manifest.Error {
	src := o.SourceOf(path)
	return &manifest.Error{File: src.File, Line: src.Line, Msg: fmt.Sprintf(format, args...)}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// gvkOf is an object's group, version and kind.
func gvkOf(o *manifest.Object) kschema.GroupVersionKind {
	return kschema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
}
