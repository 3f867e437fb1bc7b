package policy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/internal/suggest"
)

// CustomRule is a rule of the project's own, written in CEL (rules.custom): evaluated on
// every object of the kinds it matches with the environment of the API server's
// admission policies (object, namespaceObject, request), it fails the object when the
// expression is false. gate/admissionpolicy compiles and evaluates it.
type CustomRule struct {
	ID       string            `yaml:"id"`
	Severity *finding.Severity `yaml:"severity"` // default medium
	Title    string            `yaml:"title"`
	Fix      string            `yaml:"fix"`
	Match    CustomMatch       `yaml:"match"`
	// Expression must be true of a passing object.
	Expression string `yaml:"expression"`
	// Message is what a finding says; default the title.
	Message string `yaml:"message"`

	// File and Line say where the rule is written; ExpressionLine where its expression
	// is (compilation errors point there).
	File                 string `yaml:"-"`
	Line, ExpressionLine int    `yaml:"-"`
}

// CustomMatch selects the objects a custom rule judges.
type CustomMatch struct {
	// Kinds: "Deployment" (any group), "apps/Deployment", or "*" (every object).
	Kinds []string `yaml:"kinds"`
}

// SeverityOrDefault is the rule's severity, medium when unset.
func (r *CustomRule) SeverityOrDefault() finding.Severity {
	if r.Severity == nil {
		return finding.Medium
	}
	return *r.Severity
}

// Matches says whether the rule judges an object of the group and kind.
func (m CustomMatch) Matches(group, kind string) bool {
	for _, k := range m.Kinds {
		g, name, grouped := strings.Cut(k, "/")
		if !grouped {
			g, name = "", k
		}
		if name == "*" || name == kind && (!grouped || g == group) {
			return true
		}
	}
	return false
}

// Rule describes the custom rule for the catalogue's readers (reports, kubegate rules).
func (r *CustomRule) Rule() *finding.Rule {
	return &finding.Rule{
		ID: r.ID, Title: r.Title, Severity: r.SeverityOrDefault(), Fix: r.Fix,
		Refs: []string{fmt.Sprintf("%s:%d", r.File, r.Line)},
		Doc:  fmt.Sprintf("A custom rule of %s: every %s must satisfy the CEL expression `%s`.", r.File, strings.Join(r.Match.Kinds, ", "), r.Expression),
	}
}

var (
	ruleIDPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	kindPattern   = regexp.MustCompile(`^([a-z0-9.-]+/)?([A-Z][A-Za-z0-9]*|\*)$`)
)

// validateCustom checks rules.custom; the expressions are compiled by
// gate/admissionpolicy (CheckCustom), which the policy package does not import.
func (p *Policy) validateCustom(line func(string) int, cat *finding.Catalogue) {
	seen := map[string]bool{}
	for i := range p.Rules.Custom {
		r := &p.Rules.Custom[i]
		at := fmt.Sprintf("rules.custom[%d]", i)
		r.File, r.Line, r.ExpressionLine = p.File, line(at), line(at+".expression")
		errAt := func(format string, args ...any) {
			p.problems = append(p.problems, &Error{File: p.File, Line: r.Line, Msg: fmt.Sprintf(format, args...)})
		}
		switch _, builtin := cat.Get(r.ID); {
		case r.ID == "":
			errAt("a custom rule needs an id (kebab-case, such as require-team-label)")
		case !ruleIDPattern.MatchString(r.ID):
			errAt("custom rule id %q: want kebab-case, such as require-team-label", r.ID)
		case builtin:
			errAt("custom rule id %q is a built-in rule's (see `kubegate rules %s`): choose another", r.ID, r.ID)
		case seen[r.ID]:
			errAt("custom rule id %q is used twice", r.ID)
		}
		seen[r.ID] = true
		if strings.TrimSpace(r.Title) == "" {
			errAt("custom rule %s needs a title (one line: what it checks)", r.ID)
		}
		if strings.TrimSpace(r.Expression) == "" {
			errAt("custom rule %s needs an expression (CEL, true when the object passes)", r.ID)
		}
		if len(r.Match.Kinds) == 0 {
			errAt("custom rule %s needs match.kinds (Deployment, apps/Deployment, or * for every object)", r.ID)
		}
		for _, k := range r.Match.Kinds {
			if !kindPattern.MatchString(k) {
				errAt("custom rule %s: match.kinds: want Kind, group/Kind or *, got %q", r.ID, k)
			}
		}
	}
}

// customIDs are the custom rules' IDs.
func (p *Policy) customIDs() []string {
	ids := make([]string, len(p.Rules.Custom))
	for i, r := range p.Rules.Custom {
		ids[i] = r.ID
	}
	return ids
}

// knownRule says whether id names a rule the policy may refer to: a built-in, a custom
// rule, or a validation of an admission policy (vap:…, found when the inputs are read).
func (p *Policy) knownRule(cat *finding.Catalogue, id string) (*finding.Rule, bool) {
	if r, ok := cat.Get(id); ok {
		return r, true
	}
	for i := range p.Rules.Custom {
		if p.Rules.Custom[i].ID == id {
			return p.Rules.Custom[i].Rule(), true
		}
	}
	return nil, strings.HasPrefix(id, "vap:")
}

func (p *Policy) unknownRuleHint(cat *finding.Catalogue, id string) string {
	return suggest.Hint(id, append(ruleIDs(cat), p.customIDs()...))
}
