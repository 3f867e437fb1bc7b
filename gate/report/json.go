// Package report writes a gate result in the formats people and CI systems read.
package report

import (
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"io"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/diff"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

// JSONFinding is one finding in the JSON report. The key names are a contract: later
// formats and users' scripts build on them.
type JSONFinding struct {
	Rule      string           `json:"rule"`
	Severity  finding.Severity `json:"severity"`
	Practices []string         `json:"practices"`
	Refs      []string         `json:"refs"`
	Object    manifest.Ref     `json:"object"`
	Field     string           `json:"field,omitempty"`
	Container string           `json:"container,omitempty"`
	Message   string           `json:"message"`
	Fix       string           `json:"fix"`
	Source    manifest.Source  `json:"source"`
	// Fingerprint identifies the finding across runs (rule, object, field, container,
	// image; not the line): what baselines, SARIF and GitLab match on.
	Fingerprint string `json:"fingerprint"`
	// Status is new or unchanged when the run was compared with a base (--diff-base).
	Status finding.Status `json:"status,omitempty"`
}

// JSONSummary counts the run.
type JSONSummary struct {
	Objects    int              `json:"objects"`
	Findings   int              `json:"findings"`
	BySeverity map[string]int   `json:"bySeverity"`
	Exempted   int              `json:"exempted"`
	Baselined  int              `json:"baselined"`
	Errors     int              `json:"errors"`
	FailOn     finding.Severity `json:"failOn"`
	Verdict    gate.Verdict     `json:"verdict"`
}

// JSONReport is the whole JSON document.
type JSONReport struct {
	Findings []JSONFinding     `json:"findings"`
	Errors   []*manifest.Error `json:"errors"`
	Notes    []string          `json:"notes"`
	Images   []JSONImage       `json:"images"`
	Summary  JSONSummary       `json:"summary"`
	// With --diff-base: the base's findings the change removes, and the rendered change.
	Fixed []JSONFinding `json:"fixed,omitempty"`
	Diff  *JSONDiff     `json:"diff,omitempty"`
}

// JSONDiff is the rendered change against the base: objects added, removed and changed,
// with the fields that changed.
type JSONDiff struct {
	Base string `json:"base"`
	diff.Objects
}

// NewJSONReport builds the JSON view of a result.
func NewJSONReport(r *gate.Result) JSONReport {
	out := JSONReport{Findings: []JSONFinding{}, Errors: r.Errors, Notes: r.Notes, Images: NewJSONImages(r.Images)}
	if out.Errors == nil {
		out.Errors = []*manifest.Error{}
	}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, jsonFinding(r, f))
	}
	if d := r.Diff; d != nil {
		out.Fixed = []JSONFinding{}
		for _, f := range d.Fixed {
			out.Fixed = append(out.Fixed, jsonFinding(r, f))
		}
		out.Diff = &JSONDiff{Base: d.Base, Objects: d.Objects}
		for _, l := range []*[]diff.Object{&out.Diff.Added, &out.Diff.Removed, &out.Diff.Changed} {
			if *l == nil {
				*l = []diff.Object{}
			}
		}
	}
	out.Summary = JSONSummary{
		Objects: r.Objects, Findings: len(r.Findings), BySeverity: countBySeverity(r.Findings),
		Exempted: len(r.Exempted), Baselined: len(r.Baselined), Errors: len(r.Errors), FailOn: r.FailOn, Verdict: r.Verdict(),
	}
	return out
}

func jsonFinding(r *gate.Result, f finding.Finding) JSONFinding {
	jf := JSONFinding{
		Rule: f.RuleID, Severity: f.Severity, Practices: []string{}, Refs: []string{},
		Object: f.Object, Field: f.Field, Container: f.Container, Message: f.Message, Source: f.Source,
		Fingerprint: f.Fingerprint, Status: f.Status,
	}
	if rule, ok := r.Rule(f.RuleID); ok {
		jf.Practices = append(jf.Practices, rule.Practices...)
		jf.Refs = append(jf.Refs, rule.Refs...)
		jf.Fix = rule.Fix
	}
	return jf
}

func countBySeverity(fs []finding.Finding) map[string]int {
	m := map[string]int{}
	for s := finding.Info; s <= finding.Critical; s++ {
		m[s.String()] = 0
	}
	for _, f := range fs {
		m[f.Severity.String()]++
	}
	return m
}

// JSON writes the result as one indented JSON document.
func JSON(w io.Writer, r *gate.Result) error {
	// Streamed as it is encoded, with json.Encoder's v1 semantics and layout: Encoder
	// builds the whole document in memory, then a second, indented copy of it, which on
	// tens of thousands of objects is hundreds of MB at the peak.
	return writeJSON(w, NewJSONReport(r))
}

// writeJSON writes v as json.Encoder with a two-space indent does, without holding it.
func writeJSON(w io.Writer, v any) error {
	if err := jsonv2.MarshalWrite(w, v, json.DefaultOptionsV1(), jsontext.WithIndent("  ")); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
