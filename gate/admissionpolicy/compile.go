package admissionpolicy

import (
	"fmt"
	"sync"

	celgo "github.com/google/cel-go/cel"
	admv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

// compiled is one policy ready to evaluate: a ValidatingAdmissionPolicy with its
// bindings, or a custom rule of kubegate.yaml.
type compiled struct {
	name     string
	obj      *manifest.Object // where the policy is written; nil for a custom rule
	spec     admv1.ValidatingAdmissionPolicySpec
	bindings []*binding
	// validations, in order, with the rule each one's findings name.
	validations []validation
	rules       []*finding.Rule
	// The evaluators, as the validating plugin composes them (compilePolicy).
	filter, messages cel.ConditionEvaluator
	matcher          matchconditions.Matcher // nil without matchConditions
	hasParams        bool
	custom           *customRule
}

type validation struct {
	admv1.Validation
	// field is the one field path of the object the expression reads, if one: where
	// findings point.
	field string
}

// envTemplate is the environment the validating plugin compiles policies in
// (getCompositionEnvTemplateWithStrictCost in k8s.io/apiserver): built on first use, so
// a run without policies does not pay for it.
var envTemplate = sync.OnceValue(func() *environment.EnvSet {
	return environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
})

// The expression kinds, each with the types it must return (the validating plugin's
// ValidationCondition, MessageExpressionCondition and Variable).
type (
	boolExpr   string
	stringExpr string
	variable   struct{ name, expr string }
)

func (e boolExpr) GetExpression() string      { return string(e) }
func (boolExpr) ReturnTypes() []*celgo.Type   { return []*celgo.Type{celgo.BoolType} }
func (e stringExpr) GetExpression() string    { return string(e) }
func (stringExpr) ReturnTypes() []*celgo.Type { return []*celgo.Type{celgo.StringType} }
func (v variable) GetExpression() string      { return v.expr }
func (variable) ReturnTypes() []*celgo.Type   { return []*celgo.Type{celgo.AnyType, celgo.DynType} }
func (v variable) GetName() string            { return v.name }

// compilePolicy compiles a policy's variables, matchConditions, validations and
// messageExpressions, as the validating plugin does, and reports each expression that
// does not compile at its line: the API server would refuse the policy.
func compilePolicy(p *admv1.ValidatingAdmissionPolicy, o *manifest.Object) (*compiled, []*manifest.Error) {
	defaultPolicy(p)
	var errs []*manifest.Error
	bad := func(path, format string, args ...any) {
		errs = append(errs, errAt(o, path, "ValidatingAdmissionPolicy %s: %s: %s", p.Name, path, fmt.Sprintf(format, args...)))
	}
	switch {
	case p.Spec.MatchConstraints == nil:
		bad("spec", "matchConstraints is required (the resources the policy applies to)")
	case len(p.Spec.MatchConstraints.ResourceRules) == 0:
		bad("spec.matchConstraints", "resourceRules is required")
	}
	if len(p.Spec.Validations) == 0 {
		// auditAnnotations alone make a policy the API server accepts, but they do not
		// decide admission: kubegate ignores them, so nothing would be checked.
		bad("spec", "no validations: kubegate checks validations (auditAnnotations are ignored)")
	}
	if f := *p.Spec.FailurePolicy; f != admv1.Fail && f != admv1.Ignore {
		bad("spec.failurePolicy", "want Fail or Ignore, got %q", f)
	}
	c := &compiled{name: p.Name, obj: o, spec: p.Spec, hasParams: p.Spec.ParamKind != nil}
	check := func(path string, res cel.CompilationResult) {
		if res.Error != nil {
			bad(path, "%s", res.Error.Detail)
		}
	}
	ok := c.compile(p.Spec.Variables, p.Spec.MatchConditions, p.Spec.Validations, check)
	if !ok || len(errs) > 0 {
		return nil, errs
	}
	for i, v := range c.validations {
		c.rules = append(c.rules, policyRule(c, i, v))
	}
	c.rules = append(c.rules, &finding.Rule{
		ID:       ConfigRuleID(c.name),
		Title:    fmt.Sprintf("ValidatingAdmissionPolicy %s could not be applied", c.name),
		Severity: finding.High,
		Refs:     []string{c.obj.Source.String()},
		Fix:      "Give the policy what it needs for the object (its param among the inputs, matchConditions that evaluate), or set failurePolicy: Ignore.",
		Doc: fmt.Sprintf("The ValidatingAdmissionPolicy %s (%s) could not be applied to the object: a param its binding names was not found "+
			"(parameterNotFoundAction: Deny), or a selector or matchCondition errs. With failurePolicy Fail the API server denies the object, whatever the binding's actions.", c.name, c.obj.Source),
	})
	return c, nil
}

// compile builds the evaluators; check is called with each expression's compilation,
// and compile reports whether all compiled.
func (c *compiled) compile(vars []admv1.Variable, conds []admv1.MatchCondition, vals []admv1.Validation,
	check func(path string, res cel.CompilationResult)) bool {
	opts := cel.OptionalVariableDeclarations{HasParams: c.hasParams, HasAuthorizer: true}
	msgOpts := cel.OptionalVariableDeclarations{HasParams: c.hasParams}
	comp, err := cel.NewCompositedCompiler(envTemplate())
	if err != nil {
		check("spec", cel.CompilationResult{Error: &apiservercel.Error{Type: apiservercel.ErrorTypeInternal, Detail: err.Error()}})
		return false
	}
	failed := false
	checked := func(path string, res cel.CompilationResult) {
		if res.Error != nil {
			failed = true
		}
		check(path, res)
	}
	const mode = environment.StoredExpressions
	for i, v := range vars {
		checked(fmt.Sprintf("spec.variables[%d].expression", i), comp.CompileAndStoreVariable(variable{v.Name, v.Expression}, opts, mode))
	}
	// Each list is compiled once, into its evaluator; its expressions are compiled again
	// one by one only when it has errors, to name their lines.
	compileList := func(field string, exprs []cel.ExpressionAccessor, o cel.OptionalVariableDeclarations) cel.ConditionEvaluator {
		ev := comp.CompileCondition(exprs, o, mode)
		if len(ev.CompilationErrors()) > 0 {
			for i, e := range exprs {
				if e != nil {
					checked(fmt.Sprintf(field, i), comp.CompileCELExpression(e, o, mode))
				}
			}
		}
		return ev
	}
	if len(conds) > 0 {
		condExprs := make([]cel.ExpressionAccessor, len(conds))
		for i := range conds {
			condExprs[i] = (*matchconditions.MatchCondition)(&conds[i])
		}
		c.matcher = matchconditions.NewMatcher(compileList("spec.matchConditions[%d].expression", condExprs, opts),
			c.spec.FailurePolicy, "policy", "validate", c.name)
	}
	valExprs := make([]cel.ExpressionAccessor, len(vals))
	msgExprs := make([]cel.ExpressionAccessor, len(vals))
	for i, v := range vals {
		valExprs[i] = boolExpr(v.Expression)
		if v.MessageExpression != "" {
			msgExprs[i] = stringExpr(v.MessageExpression)
		}
		c.validations = append(c.validations, validation{Validation: v, field: fieldOf(v.Expression)})
	}
	c.filter = compileList("spec.validations[%d].expression", valExprs, opts)
	c.messages = compileList("spec.validations[%d].messageExpression", msgExprs, msgOpts)
	return !failed
}

// policyRule describes validation i of a policy for the reports.
func policyRule(c *compiled, i int, v validation) *finding.Rule {
	what := v.Message
	if what == "" {
		what = "`" + v.Expression + "`"
	}
	return &finding.Rule{
		ID:       RuleID(c.name, i),
		Title:    fmt.Sprintf("ValidatingAdmissionPolicy %s: %s", c.name, what),
		Severity: finding.High,
		Refs:     []string{c.obj.SourceOf(fmt.Sprintf("spec.validations[%d]", i)).String()},
		Fix:      fmt.Sprintf("Change the object so that `%s` holds, as the cluster's admission will require, or change the policy.", v.Expression),
		Doc: fmt.Sprintf("Validation %d of the ValidatingAdmissionPolicy %s (%s), evaluated in CI with the API server's CEL library. "+
			"The severity follows the binding's validationActions: Deny high, Warn low, Audit info.", i, c.name, c.obj.Source),
	}
}

// RuleID names the rule of validation i of a policy.
func RuleID(policy string, i int) string { return fmt.Sprintf("vap:%s/%d", policy, i) }
