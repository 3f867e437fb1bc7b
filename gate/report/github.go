package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/rules"
)

// GitHubAnnotations writes GitHub Actions workflow commands (`::error file=…,line=…::…`):
// the runner turns each into an annotation on the file and line, in the log and on the
// pull request. Findings that fail the gate are errors, info findings notices, the rest
// warnings; input errors are errors.
func GitHubAnnotations(w io.Writer, r *gate.Result, o Options) error {
	var b strings.Builder
	for _, e := range r.Errors {
		workflowCommand(&b, "error", o.path(e.File), e.Line, "kubegate: input error", e.Msg)
	}
	for _, f := range r.Findings {
		cmd := level(r.Fails(f), f.Severity)
		if cmd == "note" {
			cmd = "notice"
		}
		msg := f.Object.String() + ": " + f.Message
		if rule, ok := rules.Lookup(f.RuleID); ok {
			msg += "\nFix: " + rule.Fix
		}
		workflowCommand(&b, cmd, o.path(f.Source.File), f.Source.Line, fmt.Sprintf("kubegate %s (%s)", f.RuleID, f.Severity), msg)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// workflowCommand writes one annotation command, escaped as the runner unescapes it:
// in the message %, CR and LF; in properties also : and ,.
func workflowCommand(b *strings.Builder, cmd, file string, line int, title, msg string) {
	fmt.Fprintf(b, "::%s file=%s", cmd, escapeProperty(file))
	if line > 0 {
		fmt.Fprintf(b, ",line=%d", line)
	}
	fmt.Fprintf(b, ",title=%s::%s\n", escapeProperty(title), escapeData(msg))
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

func escapeData(s string) string     { return dataEscaper.Replace(s) }
func escapeProperty(s string) string { return propertyEscaper.Replace(s) }

// summaryRows caps the findings table of the Markdown summary: GitHub limits a step
// summary to 1 MiB, and the full list is in the other reports.
const summaryRows = 200

// Markdown writes the job summary (for $GITHUB_STEP_SUMMARY, or a merge request comment):
// the verdict, counts by severity, then a table of findings, file:line first.
func Markdown(w io.Writer, r *gate.Result, o Options) error {
	var b strings.Builder
	icon := map[gate.Verdict]string{gate.Pass: "✅", gate.Fail: "❌", gate.Error: "⛔"}[r.Verdict()]
	fmt.Fprintf(&b, "## %s kubegate: %s\n\n", icon, strings.ToUpper(string(r.Verdict())))
	counts := countBySeverity(r.Findings)
	b.WriteString("| objects | findings |")
	sep := "|---:|---:|"
	vals := fmt.Sprintf("| %d | %d |", r.Objects, len(r.Findings))
	for s := finding.Critical; s >= finding.Info; s-- {
		fmt.Fprintf(&b, " %s |", s)
		sep += "---:|"
		vals += fmt.Sprintf(" %d |", counts[s.String()])
	}
	fmt.Fprintf(&b, " exempted | baselined | input errors |\n%s---:|---:|---:|\n%s %d | %d | %d |\n\n",
		sep, vals, len(r.Exempted), len(r.Baselined), len(r.Errors))
	fmt.Fprintf(&b, "Findings at or above **%s** fail the gate, and so does every image that could not be checked.\n", r.FailOn)
	if len(r.Errors) > 0 {
		b.WriteString("\n### Input errors\n\n| location | error |\n|---|---|\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "| `%s` | %s |\n", o.at(e.File, e.Line), cell(e.Msg))
		}
	}
	if len(r.Findings) > 0 {
		b.WriteString("\n### Findings\n\n| location | severity | rule | object | message |\n|---|---|---|---|---|\n")
		for i, f := range r.Findings {
			if i == summaryRows {
				fmt.Fprintf(&b, "\n…and %d more: see the SARIF, JSON or text report.\n", len(r.Findings)-summaryRows)
				break
			}
			fmt.Fprintf(&b, "| `%s` | %s | [%s](%s) | %s | %s |\n", o.at(f.Source.File, f.Source.Line),
				f.Severity, f.RuleID, RuleURL(f.RuleID), cell(f.Object.String()), cell(f.Message))
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n<details><summary>Notes</summary>\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", cell(n))
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cellEscaper keeps text inside one Markdown table cell and out of HTML.
var cellEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", "", "<", "&lt;", ">", "&gt;", "&", "&amp;")

func cell(s string) string { return cellEscaper.Replace(s) }
