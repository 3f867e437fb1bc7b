// Package rules holds the manifest rules' checks, one file per family, and the catalogue
// of every rule (catalogue.go). A check is a pure function over the rendered set
// (gate/model); checks never do I/O. The vocabulary (Severity, Rule, Finding) is package
// finding's; the names below let the checks say it briefly.
package rules

import (
	"slices"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/internal/parallel"
)

type (
	Severity = finding.Severity
	Rule     = finding.Rule
	Finding  = finding.Finding
)

const (
	Info     = finding.Info
	Low      = finding.Low
	Medium   = finding.Medium
	High     = finding.High
	Critical = finding.Critical
)

// entry is one rule of the catalogue with its scope (the kinds its check reads) and its
// check; a rule another stage reports has neither.
type entry struct {
	rule  *Rule
	scope []string
	check func(*model.Set) []Finding
}

// inScope says whether the set holds an object of one of the kinds.
func inScope(present map[string]bool, scope []string) bool {
	return slices.ContainsFunc(scope, func(k string) bool { return k == "*" || present[k] })
}

// Run runs every check whose rule enabled accepts and whose kinds the set holds, the
// checks in parallel.
func Run(s *model.Set, enabled func(id string) bool) []Finding {
	present := map[string]bool{}
	for _, o := range s.Objects {
		present[o.Kind] = true
	}
	var run []entry
	for _, e := range built().entries {
		if e.check != nil && enabled(e.rule.ID) && inScope(present, e.scope) {
			run = append(run, e)
		}
	}
	results := make([][]Finding, len(run))
	parallel.For(len(run), func(i int) { results[i] = run[i].check(s) })
	var out []Finding
	for _, fs := range results {
		out = append(out, fs...)
	}
	return out
}
