package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
)

var severityColor = map[finding.Severity]string{
	finding.Critical: "\x1b[1;31m", finding.High: "\x1b[31m", finding.Medium: "\x1b[33m",
	finding.Low: "\x1b[36m", finding.Info: "\x1b[2m",
}

const reset = "\x1b[0m"

// Text writes the report for people: input errors first, then findings grouped by file as
// "file:line  SEVERITY  rule  object: message", the fix of each rule that fired, notes,
// and a summary line with the verdict.
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
	file := ""
	for _, f := range r.Findings {
		if f.Source.File != file {
			if file != "" {
				b.WriteString("\n")
			}
			file = f.Source.File
			header := file
			if f.Source.Via != "" {
				header += "  (via " + f.Source.Via + ")"
			}
			b.WriteString(paint("\x1b[1m", header) + "\n")
		}
		sev := strings.ToUpper(f.Severity.String())
		fmt.Fprintf(&b, "%s  %s  %s  %s: %s\n", location(f.Source.File, f.Source.Line),
			paint(severityColor[f.Severity], fmt.Sprintf("%-8s", sev)), f.RuleID, f.Object, f.Message)
		if v := f.Source.Values; v != nil {
			fmt.Fprintf(&b, "    value set in %s\n", v)
		}
	}
	if fired := firedRules(r.Findings); len(fired) > 0 {
		b.WriteString("\n" + paint("\x1b[1m", "How to fix") + "\n")
		for _, rule := range fired {
			if rule.Fix != "" {
				fmt.Fprintf(&b, "  %s: %s\n", rule.ID, rule.Fix)
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
	line := fmt.Sprintf("%d objects, %d findings (%s)", r.Objects, len(r.Findings), strings.Join(parts, ", "))
	if len(r.Exempted) > 0 {
		line += fmt.Sprintf(", %d exempted", len(r.Exempted))
	}
	if len(r.Baselined) > 0 {
		line += fmt.Sprintf(", %d baselined", len(r.Baselined))
	}
	if len(r.Errors) > 0 {
		line += fmt.Sprintf(", %d input errors", len(r.Errors))
	}
	// Say why a run fails when no finding reaches failOn: images that could not be checked.
	unchecked := 0
	for _, f := range r.Findings {
		if f.Severity < r.FailOn && f.FailClosed {
			unchecked++
		}
	}
	if unchecked > 0 {
		line += fmt.Sprintf(", %d on images not checked (these fail at any failOn)", unchecked)
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
	return fmt.Sprintf("%s — %s (failOn: %s)", line, verdict, r.FailOn)
}
