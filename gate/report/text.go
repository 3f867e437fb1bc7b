package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/diff"
	"github.com/kubegate/kubegate/gate/finding"
)

var severityColor = map[finding.Severity]string{
	finding.Critical: "\x1b[1;31m", finding.High: "\x1b[31m", finding.Medium: "\x1b[33m",
	finding.Low: "\x1b[36m", finding.Info: "\x1b[2m",
}

const reset = "\x1b[0m"

// Text writes the report for people: input errors first, then findings grouped by file —
// the file named once, then one row per finding with aligned columns (line, SEVERITY,
// rule, object: message) and, under it, the field at fault and the values-file line that
// set it —, the fix of each rule that fired, notes, and a summary line with the verdict.
func Text(w io.Writer, r *gate.Result, o Options) error {
	paint := func(code, s string) string {
		if !o.Color {
			return s
		}
		return code + s + reset
	}
	var b strings.Builder
	if len(r.Errors) > 0 {
		b.WriteString(paint("\x1b[1m", "Input errors") + "\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "%s  %s  %s\n", location(e.File, e.Line), paint("\x1b[1;31m", "ERROR"), e.Msg)
		}
		b.WriteString("\n")
	}
	lineWidth, ruleWidth := 1, 0
	for _, f := range r.Findings {
		lineWidth = max(lineWidth, len(fmt.Sprint(f.Source.Line)))
		ruleWidth = max(ruleWidth, len(f.RuleID))
	}
	indent := strings.Repeat(" ", 2+lineWidth+2)
	file := ""
	for i, f := range r.Findings {
		if i == 0 || f.Source.File != file {
			if i > 0 {
				b.WriteString("\n")
			}
			file = f.Source.File
			header := file
			if f.Source.Via != "" {
				header += "  (via " + f.Source.Via + ")"
			}
			b.WriteString(paint("\x1b[1m", header) + "\n")
		}
		line := "-"
		if f.Source.Line > 0 {
			line = fmt.Sprint(f.Source.Line)
		}
		sev := fmt.Sprintf("%-8s", strings.ToUpper(f.Severity.String()))
		if r.Diff != nil { // against a base: new findings are the ones that count
			sev += map[finding.Status]string{finding.New: "  new      ", finding.Unchanged: "  unchanged"}[f.Status]
		}
		fmt.Fprintf(&b, "  %*s  %s  %-*s  %s: %s\n", lineWidth, line, paint(severityColor[f.Severity], sev), ruleWidth, f.RuleID, f.Object, f.Message)
		var where []string
		if f.Field != "" {
			where = append(where, "at "+f.Field)
		}
		if v := f.Source.Values; v != nil {
			where = append(where, "value set in "+v.String())
		}
		if len(where) > 0 {
			b.WriteString(paint("\x1b[2m", indent+strings.Join(where, "; ")) + "\n")
		}
	}
	if fired := firedRules(r); len(fired) > 0 {
		b.WriteString("\n" + paint("\x1b[1m", "How to fix") + "\n")
		for _, rule := range fired {
			if rule.Fix != "" {
				fmt.Fprintf(&b, "  %s: %s\n", rule.ID, rule.Fix)
			}
		}
	}
	if d := r.Diff; d != nil {
		if len(d.Fixed) > 0 {
			b.WriteString("\n" + paint("\x1b[1m", "Fixed (found in the base, not any more)") + "\n")
			for _, f := range d.Fixed {
				fmt.Fprintf(&b, "  %s  %s  %s: %s\n", location(f.Source.File, f.Source.Line), f.RuleID, f.Object, f.Message)
			}
		}
		b.WriteString("\n" + paint("\x1b[1m", "Rendered changes against "+d.Base) + "\n")
		if d.Objects.Empty() {
			b.WriteString("  none: the change renders the same objects\n")
		}
		for _, c := range objectChanges(d) {
			fmt.Fprintf(&b, "  %s %s  (%s)\n", c.mark, c.obj.Object, location(c.obj.Source.File, c.obj.Source.Line))
			for _, f := range c.obj.Fields {
				fmt.Fprintf(&b, "      %s: %s\n", f.Path, fieldChange(f))
			}
			if c.obj.MoreFields > 0 {
				fmt.Fprintf(&b, "      …and %s more\n", Count(c.obj.MoreFields, "field", "fields"))
			}
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			b.WriteString(paint("\x1b[2m", "note: "+n) + "\n")
		}
	}
	b.WriteString("\n" + summaryLine(r, paint) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func location(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

func summaryLine(r *gate.Result, paint func(string, string) string) string {
	counts := countBySeverity(r.Findings)
	var parts []string
	for s := finding.Critical; s >= finding.Info; s-- {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s.String()], s))
	}
	line := fmt.Sprintf("%s, %s (%s)", Count(r.Objects, "object", "objects"), Count(len(r.Findings), "finding", "findings"), strings.Join(parts, ", "))
	if len(r.Exempted) > 0 {
		line += fmt.Sprintf(", %d exempted", len(r.Exempted))
	}
	if len(r.Baselined) > 0 {
		line += fmt.Sprintf(", %d baselined", len(r.Baselined))
	}
	if len(r.Errors) > 0 {
		line += ", " + Count(len(r.Errors), "input error", "input errors")
	}
	// Say why a run fails when no finding reaches failOn: images that could not be checked.
	unchecked := 0
	for _, f := range r.Findings {
		if f.Severity < r.FailOn && f.FailClosed {
			unchecked++
		}
	}
	if unchecked > 0 {
		if unchecked == 1 {
			line += ", 1 on an image not checked (it fails at any failOn)"
		} else {
			line += fmt.Sprintf(", %d on images not checked (these fail at any failOn)", unchecked)
		}
	}
	var verdict string
	switch r.Verdict() {
	case gate.Pass:
		verdict = paint("\x1b[1;32m", "PASS")
	case gate.Fail:
		verdict = paint("\x1b[1;31m", "FAIL")
	default:
		verdict = paint("\x1b[1;31m", "ERROR")
	}
	if d := r.Diff; d != nil {
		line += fmt.Sprintf("; against %s: %d new, %d fixed", d.Base, countStatus(r.Findings, finding.New), len(d.Fixed))
	}
	return fmt.Sprintf("%s — %s (failOn: %s)", line, verdict, r.FailOn)
}

func countStatus(fs []finding.Finding, s finding.Status) int {
	n := 0
	for _, f := range fs {
		if f.Status == s {
			n++
		}
	}
	return n
}

// objectChange is one line of the rendered diff: + added, - removed, ~ changed.
type objectChange struct {
	mark string
	obj  diff.Object
}

func objectChanges(d *gate.Diff) []objectChange {
	var out []objectChange
	for _, o := range d.Objects.Added {
		out = append(out, objectChange{"+", o})
	}
	for _, o := range d.Objects.Removed {
		out = append(out, objectChange{"-", o})
	}
	for _, o := range d.Objects.Changed {
		out = append(out, objectChange{"~", o})
	}
	return out
}

// fieldChange is "old → new", with (added) and (removed) for a side without the field.
func fieldChange(f diff.Field) string {
	switch {
	case f.Old == "":
		return f.New + " (added)"
	case f.New == "":
		return f.Old + " (removed)"
	}
	return f.Old + " → " + f.New
}

// Count is "1 finding", "2 findings".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
