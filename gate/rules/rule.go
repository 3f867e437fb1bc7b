// Package rules holds the model of the rendered set (Set, Pod) and the checks of the
// manifest rules. A check is a pure function over the set; checks never do I/O. The
// vocabulary (Severity, Rule, Finding, the catalogue) is package finding's; the names
// below let the checks say it briefly.
package rules

import (
	"github.com/kubegate/kubegate/gate/finding"
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

// checks are the manifest rules' checks, by rule ID.
var checks = map[string]func(*Set) []Finding{}

// Run runs every check whose rule enabled accepts over the set, the checks in parallel.
func Run(s *Set, enabled func(id string) bool) []Finding {
	type active struct {
		id    string
		check func(*Set) []Finding
	}
	var run []active
	for _, r := range finding.All() {
		if c := checks[r.ID]; c != nil && enabled(r.ID) {
			run = append(run, active{r.ID, c})
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
