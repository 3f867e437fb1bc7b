package policy

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

// Object annotations that exempt one object from rules, for a reason.
const (
	AnnotationExempt       = "kubegate.dev/exempt"        // "rule-a,rule-b" (globs allowed)
	AnnotationExemptReason = "kubegate.dev/exempt-reason" // required
)

// The bookkeeping rules: their findings come from applying the policy, not from objects.
// gate/rules lists them in the catalogue.
var (
	RuleExemptionExpired = &finding.Rule{
		ID: "exemption-expired", Title: "Exemption has expired", Severity: finding.Low,
		Fix: "Fix the findings it covered, or renew the exemption with a new expiry date and reason.",
		Doc: "An exemption in kubegate.yaml whose expires date has passed no longer exempts anything: " +
			"the findings it covered are reported again, and this finding says which exemption lapsed.",
	}
	RuleExemptionUnused = &finding.Rule{
		ID: "exemption-unused", Title: "Exemption matched no finding", Severity: finding.Info,
		Fix: "Remove the exemption, or correct its rule and object selectors.",
		Doc: "An exemption in kubegate.yaml that matched no finding in this run is stale or mistyped.",
	}
	RuleExemptionInvalid = &finding.Rule{
		ID: "exemption-invalid", Title: "Exemption annotation without a reason", Severity: finding.Low,
		Fix: "Add the kubegate.dev/exempt-reason annotation saying why the object is exempt.",
		Doc: "The kubegate.dev/exempt annotation only exempts an object when kubegate.dev/exempt-reason " +
			"says why; without it the findings are reported.",
	}
)

// Outcome is the policy applied to the rule findings.
type Outcome struct {
	Findings []finding.Finding // what is reported, with the policy's severities
	Exempted []finding.Finding // what exemptions accepted
}

// Enabled says whether a rule runs.
func (p *Policy) Enabled(id string) bool {
	for _, d := range p.Rules.Disable {
		if d == id {
			return false
		}
	}
	return true
}

// Apply applies exemptions and severity overrides. now decides which exemptions expired.
func (p *Policy) Apply(findings []finding.Finding, objects []*manifest.Object, now time.Time) Outcome {
	byRef := make(map[manifest.Ref]*manifest.Object, len(objects))
	for _, o := range objects {
		byRef[o.Ref()] = o
	}
	used := make([]bool, len(p.Exemptions))
	expired := make([]bool, len(p.Exemptions))
	invalid := map[manifest.Ref]bool{}
	var out Outcome
	for _, f := range findings {
		if o := byRef[f.Object]; o != nil {
			switch annotationExempts(o, f) {
			case exemptOK:
				out.Exempted = append(out.Exempted, f)
				continue
			case exemptNoReason:
				if !invalid[f.Object] {
					invalid[f.Object] = true
					out.Findings = append(out.Findings, RuleExemptionInvalid.At(o, "metadata.annotations",
						"", fmt.Sprintf("%s exempts %s without a %s annotation; the exemption is ignored",
							AnnotationExempt, f.RuleID, AnnotationExemptReason)))
				}
			}
		}
		if i := p.exemptionFor(f, now, expired); i >= 0 {
			used[i] = true
			out.Exempted = append(out.Exempted, f)
			continue
		}
		out.Findings = append(out.Findings, f)
	}
	for i, e := range p.Exemptions {
		src := manifest.Source{File: p.File, Line: p.exemptionLines[i]}
		ref := manifest.Ref{APIVersion: APIVersion, Kind: Kind, Name: filepath.Base(p.File)}
		switch {
		case expired[i]:
			out.Findings = append(out.Findings, finding.Finding{RuleID: RuleExemptionExpired.ID, Severity: RuleExemptionExpired.Severity,
				Object: ref, Field: fmt.Sprintf("exemptions[%d]", i), Source: src,
				Message: fmt.Sprintf("exemption for %s (owner %s) expired on %s; its findings are reported again", e.Rule, e.Owner, e.Expires)})
		case !used[i]:
			out.Findings = append(out.Findings, finding.Finding{RuleID: RuleExemptionUnused.ID, Severity: RuleExemptionUnused.Severity,
				Object: ref, Field: fmt.Sprintf("exemptions[%d]", i), Source: src,
				Message: fmt.Sprintf("exemption for %s (owner %s) matched no finding", e.Rule, e.Owner)})
		}
	}
	kept := out.Findings[:0]
	for _, f := range out.Findings {
		if f, ok := p.adjust(f); ok {
			kept = append(kept, f)
		}
	}
	out.Findings = kept
	return out
}

// adjust drops the findings of disabled rules and applies severity overrides.
func (p *Policy) adjust(f finding.Finding) (finding.Finding, bool) {
	if !p.Enabled(f.RuleID) {
		return f, false
	}
	if s, ok := p.Rules.Severity[f.RuleID]; ok {
		f.Severity = s
	}
	return f, true
}

// Judge applies the policy to one finding outside a rendered set (an admission review):
// disabled rules and live exemptions drop it, severity overrides apply. Exemption
// annotations are not read: at admission they would come from whoever creates the pod.
func (p *Policy) Judge(f finding.Finding, now time.Time) (finding.Finding, bool) {
	if p.exemptionFor(f, now, make([]bool, len(p.Exemptions))) >= 0 {
		return f, false
	}
	return p.adjust(f)
}

// exemptionFor returns the index of the first live exemption that covers f, or -1. An
// exemption that would cover f but has expired is marked in expired.
func (p *Policy) exemptionFor(f finding.Finding, now time.Time, expired []bool) int {
	for i, e := range p.Exemptions {
		if !e.covers(f) {
			continue
		}
		if now.After(e.Expires.AddDate(0, 0, 1)) {
			expired[i] = true
			continue
		}
		return i
	}
	return -1
}

func (e Exemption) covers(f finding.Finding) bool {
	return matchOrEmpty(e.Rule, f.RuleID) && matchOrEmpty(e.Kind, f.Object.Kind) && matchOrEmpty(e.Namespace, f.Object.Namespace) &&
		matchOrEmpty(e.Name, f.Object.Name) && matchOrEmpty(e.Container, f.Container)
}

// matchOrEmpty matches a selector glob; an empty one matches anything.
func matchOrEmpty(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := filepath.Match(pattern, s)
	return ok
}

type exemptState int

const (
	notExempt exemptState = iota
	exemptOK
	exemptNoReason
)

func annotationExempts(o *manifest.Object, f finding.Finding) exemptState {
	ann := o.Annotations()
	list, ok := ann[AnnotationExempt]
	if !ok || f.FailClosed { // an unchecked image: only the policy's owners may admit it
		return notExempt
	}
	for _, pat := range strings.Split(list, ",") {
		if matchOrEmpty(strings.TrimSpace(pat), f.RuleID) && strings.TrimSpace(pat) != "" {
			if strings.TrimSpace(ann[AnnotationExemptReason]) == "" {
				return exemptNoReason
			}
			return exemptOK
		}
	}
	return notExempt
}
