// Package report writes a gate result in the formats people and CI systems read: text,
// JSON, SARIF 2.1.0, JUnit XML, GitLab Code Quality, GitHub workflow commands and a
// Markdown job summary. Each format has its own file.
package report

import (
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/rules"
)

// Options apply to every format.
type Options struct {
	Color   bool   // text: ANSI colours (only on a terminal)
	Version string // kubegate's version, named by SARIF and JUnit
	// Root is the absolute directory report paths are made relative to: the repository,
	// so that GitHub and GitLab find the files. "": paths as the gate gives them.
	Root string
}

// formats are the writers by name; --format and --output take these names.
var formats = map[string]func(io.Writer, *gate.Result, Options) error{
	"text":     Text,
	"json":     func(w io.Writer, r *gate.Result, _ Options) error { return JSON(w, r) },
	"sarif":    SARIF,
	"junit":    JUnit,
	"gitlab":   GitLabCodeQuality,
	"github":   GitHubAnnotations,
	"markdown": Markdown,
}

// Formats lists the format names, sorted.
func Formats() []string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Write writes the result in the named format.
func Write(w io.Writer, format string, r *gate.Result, o Options) error {
	f, ok := formats[format]
	if !ok {
		return fmt.Errorf("unknown report format %q (one of %s)", format, strings.Join(Formats(), ", "))
	}
	return f(w, r, o)
}

// path is file as the report shows it: relative to Root, with forward slashes.
func (o Options) path(file string) string {
	if o.Root != "" && file != "" && file != "-" {
		abs, err := filepath.Abs(file)
		if err == nil {
			if rel, err := filepath.Rel(o.Root, abs); err == nil && !strings.HasPrefix(rel, "..") {
				file = rel
			}
		}
	}
	return filepath.ToSlash(file)
}

// at is file:line as the report shows it (file alone without a line).
func (o Options) at(file string, line int) string { return location(o.path(file), line) }

// uri is path as a URI reference (SARIF): spaces and other specials escaped.
func (o Options) uri(file string) string {
	return (&url.URL{Path: o.path(file)}).String()
}

// startLine is a 1-based line for formats that need one: findings without a line (a whole
// file) point at its first line.
func startLine(n int) int { return max(n, 1) }

// RuleDocs is where each rule is documented (helpUri in SARIF, links in the summary).
const RuleDocs = "https://github.com/kubegate/kubegate/blob/main/docs/rules.md"

// AdmissionPolicyDocs documents the rules a run makes of admission policies and custom
// rules (vap:…, rules.custom), which the catalogue's document does not hold.
const AdmissionPolicyDocs = "https://github.com/kubegate/kubegate/blob/main/README.md#admission-policies-validatingadmissionpolicy-and-custom-cel-rules"

// RuleURL is the documentation of one rule: its section of the rule docs, or for a rule
// of the run's own, how admission policies and custom rules work.
func RuleURL(id string) string {
	if _, builtin := rules.Lookup(id); !builtin {
		return AdmissionPolicyDocs
	}
	return RuleDocs + "#" + id
}

// firedRules are the rules of the findings, in order of first appearance.
func firedRules(r *gate.Result) []*finding.Rule {
	var out []*finding.Rule
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if seen[f.RuleID] {
			continue
		}
		seen[f.RuleID] = true
		if rule, ok := r.Rule(f.RuleID); ok {
			out = append(out, rule)
		} else {
			out = append(out, &finding.Rule{ID: f.RuleID, Title: f.RuleID, Severity: f.Severity})
		}
	}
	return out
}
