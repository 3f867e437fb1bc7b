package admissionpolicy

import (
	"context"
	"fmt"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/admission/plugin/cel"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/policy"
)

// customRule is a custom rule of kubegate.yaml, compiled as a policy of one validation.
type customRule struct {
	*policy.CustomRule
	rule *finding.Rule
}

// CompileCustom compiles the policy file's custom rules in the environment of admission
// policies (object, oldObject, request, namespaceObject, variables). An expression that
// does not compile, or is not a bool, is an error at its line of the policy file.
func CompileCustom(p *policy.Policy) ([]*compiled, error) {
	var out []*compiled
	var errs policy.Errors
	for i := range p.Rules.Custom {
		r := &p.Rules.Custom[i]
		fail := admv1.Fail
		c := &compiled{name: r.ID, spec: admv1.ValidatingAdmissionPolicySpec{FailurePolicy: &fail}}
		c.custom = &customRule{CustomRule: r, rule: r.Rule()}
		val := admv1.Validation{Expression: r.Expression, Message: r.Message}
		if val.Message == "" {
			val.Message = r.Title
		}
		ok := c.compile(nil, nil, []admv1.Validation{val}, func(_ string, res cel.CompilationResult) {
			if res.Error != nil {
				errs = append(errs, &policy.Error{File: r.File, Line: r.ExpressionLine, Msg: fmt.Sprintf("custom rule %s: expression: %s", r.ID, res.Error.Detail)})
			}
		})
		if ok {
			out = append(out, c)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// CheckCustom reports what CompileCustom finds wrong: for loading a policy file.
func CheckCustom(p *policy.Policy) error {
	_, err := CompileCustom(p)
	return err
}

// WithCustom adds the policy file's custom rules to ps.
func (ps *Policies) WithCustom(p *policy.Policy) error {
	custom, err := CompileCustom(p)
	if err != nil {
		return err
	}
	ps.custom = custom
	for _, c := range custom {
		ps.Rules = append(ps.Rules, c.custom.rule)
	}
	return nil
}

// evaluateCustom judges one object by a custom rule: a finding when the expression is
// false, or when it cannot be evaluated (a custom rule fails closed).
func (c *compiled) evaluateCustom(ctx context.Context, r *request, ns *corev1.Namespace) []finding.Finding {
	if !c.custom.Match.Matches(r.gvk.Group, r.gvk.Kind) {
		return nil
	}
	var out []finding.Finding
	for _, d := range c.validate(ctx, r, r.attr.GetResource(), nil, ns) {
		if !d.deny {
			continue
		}
		field := c.validations[0].field
		out = append(out, finding.Finding{
			RuleID: c.custom.ID, Severity: c.custom.SeverityOrDefault(), Object: r.obj.Ref(),
			Field: field, Source: r.obj.SourceOf(field), Message: d.message,
		})
	}
	return out
}
