package admissionpolicy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	celtypes "github.com/google/cel-go/common/types"
	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/matching"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apiservercel "k8s.io/apiserver/pkg/cel"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/parallel"
)

// Options are what policies are evaluated under.
type Options struct {
	// Namespace is where objects without metadata.namespace are deployed (-n); "" means
	// kubectl's default, "default".
	Namespace string
	// Severity is the severity of a finding a binding's validationActions make; nil:
	// DefaultSeverity.
	Severity func(admv1.ValidationAction) finding.Severity
}

// DefaultSeverity is Deny high, Warn low, Audit info: what each action costs the
// person applying the object (refused, warned, logged).
func DefaultSeverity(a admv1.ValidationAction) finding.Severity {
	switch a {
	case admv1.Deny:
		return finding.High
	case admv1.Warn:
		return finding.Low
	}
	return finding.Info
}

// Evaluate judges every object of objs (the checked inputs) against the policies as the
// API server would judge its CREATE, and against the custom rules: one finding per
// validation that denies it (per binding), per custom rule it fails, and per policy that
// could not be applied to it with failurePolicy Fail. The notes say which policies
// selected namespaces by labels CI does not know.
func (ps *Policies) Evaluate(ctx context.Context, objs []*manifest.Object, opts Options) ([]finding.Finding, []string) {
	if ps.Empty() {
		return nil, nil
	}
	if opts.Severity == nil {
		opts.Severity = DefaultSeverity
	}
	api := ps.params.api
	ns := newNamespaces(append(slices.Clip(ps.params.objs), objs...))
	matcher := matching.NewMatcher(ns, nil)
	results := make([][]finding.Finding, len(objs))
	unknown := make([]string, len(objs)) // the object's namespace, when it is not among the inputs
	parallel.For(len(objs), func(i int) {
		r := newRequest(objs[i], api, opts.Namespace)
		var nsObj *corev1.Namespace
		if r.namespace != "" && !(r.gvk.Group == "" && r.gvk.Kind == "Namespace") {
			nsObj, _ = ns.Get(r.namespace)
		}
		if r.namespace != "" && !ns.known(r.namespace) {
			unknown[i] = r.namespace
		}
		for _, c := range ps.policies {
			results[i] = append(results[i], ps.evaluatePolicy(ctx, c, r, matcher, nsObj, opts)...)
		}
		for _, c := range ps.custom {
			results[i] = append(results[i], c.evaluateCustom(ctx, r, nsObj)...)
		}
	})
	spaces := slices.DeleteFunc(unknown, func(s string) bool { return s == "" })
	n := len(spaces) // objects in namespaces not among the inputs
	slices.Sort(spaces)
	spaces = slices.Compact(spaces)
	var notes []string
	for _, c := range ps.policies {
		if len(spaces) > 0 && c.selectsNamespaces() {
			notes = append(notes, fmt.Sprintf("admission policies: %s selects namespaces by label, and namespace %s is not among the inputs: "+
				"%d objects there were judged as if it had no label but kubernetes.io/metadata.name; add the Namespace objects to the inputs or to --admission-policies",
				c.name, strings.Join(spaces, ", "), n))
		}
	}
	return slices.Concat(results...), notes
}

// selectsNamespaces says whether the policy or one of its bindings selects namespaces by
// label.
func (c *compiled) selectsNamespaces() bool {
	selects := func(m *admv1.MatchResources) bool {
		return m != nil && m.NamespaceSelector != nil && (len(m.NamespaceSelector.MatchLabels) > 0 || len(m.NamespaceSelector.MatchExpressions) > 0)
	}
	return selects(c.spec.MatchConstraints) || slices.ContainsFunc(c.bindings, func(b *binding) bool { return selects(b.Spec.MatchResources) })
}

// evaluatePolicy is the validating plugin's dispatch of one policy (dispatcher.go):
// matchConstraints, then each binding's matchResources, params, and the validator.
func (ps *Policies) evaluatePolicy(ctx context.Context, c *compiled, r *request, m *matching.Matcher, ns *corev1.Namespace, opts Options) []finding.Finding {
	if len(c.bindings) == 0 {
		return nil
	}
	var out []finding.Finding
	configError := func(b *binding, err error) {
		if *c.spec.FailurePolicy == admv1.Ignore {
			return
		}
		// The API server's words ("failed to configure binding: …"), with the binding named.
		what, msg := "ValidatingAdmissionPolicy "+c.name, "failed to configure policy: "
		if b != nil {
			what, msg = fmt.Sprintf("ValidatingAdmissionPolicy %s with binding %s", c.name, b.Name), "failed to configure binding: "
		}
		f := finding.Finding{RuleID: ConfigRuleID(c.name), Severity: opts.Severity(admv1.Deny), Object: r.obj.Ref(), Source: r.obj.Source,
			Message: fmt.Sprintf("%s could not be applied (failurePolicy Fail denies): %s%v", what, msg, err)}
		if b != nil {
			f.Subject = b.Name
		}
		out = append(out, f)
	}
	matches, gvr, _, err := m.Matches(r.attr, objectInterfaces, criteria{c.spec.MatchConstraints})
	if err != nil {
		configError(nil, err)
		return out
	}
	if !matches {
		return nil
	}
	for _, b := range c.bindings {
		if mr := b.Spec.MatchResources; mr != nil {
			ok, _, _, err := m.Matches(r.attr, objectInterfaces, criteria{mr})
			if err != nil {
				configError(b, err)
				continue
			}
			if !ok {
				continue
			}
		}
		params, err := ps.params.collect(c, b, r.namespace)
		if err != nil {
			configError(b, err)
			continue
		}
		for _, p := range params {
			for _, d := range c.validate(ctx, r, gvr, p, ns) {
				if f, ok := c.findingFor(r, b, d, opts); ok {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// findingFor is what a denying decision of binding b costs the object: the most severe
// of the binding's actions.
func (c *compiled) findingFor(r *request, b *binding, d decision, opts Options) (finding.Finding, bool) {
	if !d.deny || len(b.Spec.ValidationActions) == 0 {
		return finding.Finding{}, false
	}
	sev := finding.Info
	var actions []string
	for _, a := range b.Spec.ValidationActions {
		sev = max(sev, opts.Severity(a))
		actions = append(actions, string(a))
	}
	id, field := ConfigRuleID(c.name), ""
	if d.index >= 0 {
		id, field = RuleID(c.name, d.index), c.validations[d.index].field
	}
	return finding.Finding{
		RuleID: id, Severity: sev, Object: r.obj.Ref(), Field: field, Source: r.obj.SourceOf(field), Subject: b.Name,
		Message: fmt.Sprintf("%s (ValidatingAdmissionPolicy %s, binding %s: %s)", d.message, c.name, b.Name, strings.Join(actions, ", ")),
	}, true
}

// ConfigRuleID names the rule of a policy that could not be applied to an object (a
// param not found, a matchCondition that errs, with failurePolicy Fail).
func ConfigRuleID(policy string) string { return "vap:" + policy }

// decision is the verdict of one validation (index; -1 for the policy as a whole).
type decision struct {
	index   int
	deny    bool
	message string
}

// validate is the validating plugin's validator (validator.go, Validate) without audit
// annotations, which do not decide admission.
func (c *compiled) validate(ctx context.Context, r *request, gvr kschema.GroupVersionResource, params runtime.Object, ns *corev1.Namespace) []decision {
	failClosed := *c.spec.FailurePolicy != admv1.Ignore
	whole := func(msg string) []decision {
		return []decision{{index: -1, deny: failClosed, message: msg}}
	}
	if c.matcher != nil {
		res := c.matcher.Match(ctx, r.versioned, params, noAuthorizer{})
		if res.Error != nil {
			return whole(res.Error.Error())
		}
		if !res.Matches {
			return nil
		}
	}
	vars := cel.OptionalVariableBindings{VersionedParams: params, Authorizer: noAuthorizer{}}
	request := cel.CreateAdmissionRequest(r.attr, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(r.gvk))
	nsObj := cel.CreateNamespaceObject(ns)
	results, budget, err := c.filter.ForInput(ctx, r.versioned, request, vars, nsObj, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return whole(err.Error())
	}
	messages, _, msgErr := c.messages.ForInput(ctx, r.versioned, request, cel.OptionalVariableBindings{VersionedParams: params}, nsObj, budget)
	out := make([]decision, 0, len(results))
	for i, res := range results {
		v := c.validations[i]
		switch {
		case res.Error != nil:
			out = append(out, decision{i, failClosed, evalError(res.Error)})
		case errors.Is(msgErr, apiservercel.ErrInternal) || errors.Is(msgErr, apiservercel.ErrOutOfBudget):
			out = append(out, decision{i, failClosed, fmt.Sprintf("failed messageExpression: %s", msgErr)})
		case res.EvalResult != celtypes.True:
			out = append(out, decision{i, true, denyMessage(v.Validation, messages, i)})
		}
	}
	return out
}

// denyMessage is the message of a denying validation: its messageExpression's value, else
// its message, else the expression, as the API server words it.
func denyMessage(v admv1.Validation, messages []cel.EvaluationResult, i int) string {
	var msg string
	if i < len(messages) && messages[i].Error == nil && messages[i].EvalResult != nil {
		if s, ok := messages[i].EvalResult.Value().(string); ok {
			s = strings.TrimSpace(s)
			if len(s) <= celconfig.MaxEvaluatedMessageExpressionSizeBytes && !strings.Contains(s, "\n") {
				msg = s
			}
		}
	}
	if msg == "" {
		msg = strings.TrimSpace(v.Message)
	}
	if msg == "" {
		msg = "failed expression: " + strings.TrimSpace(v.Expression)
	}
	return msg
}

// evalError words an evaluation error; one about a field the object does not set adds
// why that may differ in the cluster.
func evalError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "no such key") {
		msg += defaultingHint
	}
	return msg
}

const defaultingHint = " (the object does not set the field: kubegate evaluates objects as written, before the API server's defaulting; guard the expression with has())"

// criteria is match resources as the matcher reads them (the plugin's matchCriteria).
type criteria struct{ m *admv1.MatchResources }

func (c criteria) GetParsedNamespaceSelector() (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(c.m.NamespaceSelector)
}

func (c criteria) GetParsedObjectSelector() (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(c.m.ObjectSelector)
}

func (c criteria) GetMatchResources() admv1.MatchResources { return *c.m }

// noAuthorizer answers the authorizer variable: CI does not know who will apply the
// object, so an expression that asks fails, and the policy's failurePolicy decides.
type noAuthorizer struct{}

func (noAuthorizer) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionNoOpinion, "", errors.New("kubegate evaluates policies in CI, where no user applies the object: authorizer checks cannot be answered")
}
