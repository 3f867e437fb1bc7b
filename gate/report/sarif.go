package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
)

// srcRoot names the repository root in SARIF locations; the upload resolves it to the
// checkout.
const srcRoot = "%SRCROOT%"

// fingerprintKey names kubegate's fingerprint among a result's partialFingerprints.
const fingerprintKey = "kubegate/v1"

// securitySeverity is the CVSS-like score GitHub code scanning ranks security alerts by:
// ≥9 critical, 7–8.9 high, 4–6.9 medium, 0.1–3.9 low. Info findings get none (a note).
var securitySeverity = map[finding.Severity]string{
	finding.Critical: "9.5", finding.High: "8.0", finding.Medium: "5.5", finding.Low: "3.0",
}

// SARIF writes a SARIF 2.1.0 log for GitHub code scanning and other SARIF viewers: one
// run; the rules that fired, with their documentation and fix; one result per finding at
// its file and line, with a fingerprint that ignores line moves; input errors and notes as
// tool notifications.
func SARIF(w io.Writer, r *gate.Result, o Options) error {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	driver := sarif.NewVersionedDriver("kubegate", o.Version).
		WithInformationURI("https://github.com/kubegate/kubegate")
	run := sarif.NewRun(sarif.Tool{Driver: driver})
	if o.Root != "" {
		run.WithOriginalUriBaseIds(map[string]*sarif.ArtifactLocation{
			srcRoot: sarif.NewSimpleArtifactLocation("file://" + strings.TrimSuffix(filepath.ToSlash(o.Root), "/") + "/"),
		})
	}
	index := map[string]int{}
	for i, rule := range firedRules(r) {
		index[rule.ID] = i
		run.AddRule(rule.ID).
			WithName(rule.Title).
			WithShortDescription(sarif.NewMultiformatMessageString(rule.Title)).
			WithFullDescription(sarif.NewMultiformatMessageString(orTitle(rule))).
			WithHelpURI(RuleURL(rule.ID)).
			WithHelp(&sarif.MultiformatMessageString{Text: ptr(ruleHelp(rule, false)), Markdown: ptr(ruleHelp(rule, true))}).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(level(rule.Severity >= r.FailOn || rule.FailClosed, rule.Severity))).
			WithProperties(ruleProperties(rule))
	}
	for _, f := range r.Findings {
		res := run.CreateResultForRule(f.RuleID).
			WithRuleIndex(index[f.RuleID]).
			WithLevel(level(r.Fails(f), f.Severity)).
			WithMessage(sarif.NewTextMessage(f.Object.String() + ": " + f.Message)).
			WithPartialFingerPrints(map[string]any{fingerprintKey: f.Fingerprint})
		if f.Status != "" { // against a base (--diff-base): SARIF's own word for it
			res.WithBaselineState(string(f.Status))
		}
		res.AddLocation(sarif.NewLocationWithPhysicalLocation(o.physical(f.Source.File, f.Source.Line)).
			WithLogicalLocations([]*sarif.LogicalLocation{sarif.NewLogicalLocation().
				WithFullyQualifiedName(f.Object.String()).WithKind("object")}))
		if v := f.Source.Values; v != nil && v.File != "--set" {
			// Where a chart user changes the value: the values file line that sets it.
			res.AddRelatedLocation(sarif.NewLocationWithPhysicalLocation(o.physical(v.File, v.Line)).
				WithId(1).WithMessage(sarif.NewTextMessage("value " + v.Path + " set here")))
		}
	}
	inv := run.AddInvocation(r.Verdict() != gate.Error)
	inv.WithExitCode(r.ExitCode()).WithExitCodeDescription(string(r.Verdict()))
	for _, e := range r.Errors {
		inv.AddTToolExecutionNotification(sarif.NewNotification().WithLevel("error").
			WithTextMessage(e.Msg).WithLocations([]*sarif.Location{sarif.NewLocationWithPhysicalLocation(o.physical(e.File, e.Line))}))
	}
	for _, n := range r.Notes {
		inv.AddTToolExecutionNotification(sarif.NewNotification().WithLevel("note").WithTextMessage(n))
	}
	log.AddRun(run)
	return log.PrettyWrite(w)
}

func (o Options) physical(file string, line int) *sarif.PhysicalLocation {
	al := sarif.NewSimpleArtifactLocation(o.uri(file))
	if o.Root != "" {
		al.WithUriBaseId(srcRoot)
	}
	return sarif.NewPhysicalLocation().WithArtifactLocation(al).WithRegion(sarif.NewRegion().WithStartLine(startLine(line)))
}

// level is the SARIF level: error when the finding fails the gate, note for info, else
// warning.
func level(fails bool, s finding.Severity) string {
	switch {
	case fails:
		return "error"
	case s == finding.Info:
		return "note"
	}
	return "warning"
}

func ruleProperties(rule *finding.Rule) sarif.Properties {
	tags := []string{"security", "kubernetes"}
	for _, p := range rule.Practices {
		tags = append(tags, "practice-"+p)
	}
	for _, ref := range rule.Refs {
		if strings.HasPrefix(ref, "CIS ") {
			tags = append(tags, ref)
		}
	}
	props := sarif.Properties{"tags": tags, "severity": rule.Severity.String()}
	if s, ok := securitySeverity[rule.Severity]; ok {
		props["security-severity"] = s
	}
	return props
}

// ruleHelp is the rule's documentation: what it checks, the fix, the references.
func ruleHelp(rule *finding.Rule, markdown bool) string {
	var b strings.Builder
	bold := func(s string) string {
		if markdown {
			return "**" + s + "**"
		}
		return s
	}
	fmt.Fprintf(&b, "%s\n\n%s %s\n", orTitle(rule), bold("Fix:"), rule.Fix)
	if len(rule.Practices) > 0 {
		fmt.Fprintf(&b, "\n%s %s\n", bold("Hardening practices:"), strings.Join(rule.Practices, ", "))
	}
	if len(rule.Refs) > 0 {
		fmt.Fprintf(&b, "\n%s\n", bold("References:"))
		for _, ref := range rule.Refs {
			fmt.Fprintf(&b, "- %s\n", ref)
		}
	}
	return b.String()
}

func orTitle(rule *finding.Rule) string {
	if rule.Doc != "" {
		return rule.Doc
	}
	return rule.Title
}

func ptr[T any](v T) *T { return &v }
