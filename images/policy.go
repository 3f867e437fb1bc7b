package images

import (
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/internal/glob"
)

// scanning is the rule's vulnerability threshold (the default one when it sets none), or
// nil when it scans nothing (failOn: off).
func scanning(r *policy.ImageRule) *policy.VulnerabilityRule {
	vr := r.Vulnerabilities
	if vr == nil {
		vr = DefaultRule.Vulnerabilities
	}
	if _, off := thresholdOf(vr.FailOn); off {
		return nil
	}
	return vr
}

// DefaultRule applies to images no rule matches: critical vulnerabilities fail, no
// signature is required.
var DefaultRule = policy.ImageRule{Vulnerabilities: &policy.VulnerabilityRule{FailOn: "critical"}}

// MatchRule returns the first rule whose globs match repo (canonical, no tag or digest),
// else def.
func MatchRule(rules []policy.ImageRule, def *policy.ImageRule, repo string) *policy.ImageRule {
	for i := range rules {
		for _, g := range rules[i].Match {
			if glob.Match(g, repo) {
				return &rules[i]
			}
		}
	}
	if def != nil {
		return def
	}
	return &DefaultRule
}
