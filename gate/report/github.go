package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
)

// GitHubAnnotations writes GitHub Actions workflow commands (`::error file=…,line=…::…`):
// the runner turns each into an annotation on the file and line, in the log and on the
// pull request. Findings that fail the gate are errors, info findings notices, the rest
// warnings; input errors are errors. Against a base (--diff-base) only new findings are
// annotated, and unchanged ones that fail the gate all the same.
func GitHubAnnotations(w io.Writer, r *gate.Result, o Options) error {
	var b strings.Builder
	for _, e := range r.Errors {
		workflowCommand(&b, "error", o.path(e.File), e.Line, "kubegate: input error", e.Msg)
	}
	for _, f := range r.Findings {
		if !againstBase(r, f) {
			continue
		}
		cmd := level(r.Fails(f), f.Severity)
		if cmd == "note" {
			cmd = "notice"
		}
		msg := f.Object.String() + ": " + f.Message
		if rule, ok := r.Rule(f.RuleID); ok {
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

// againstBase says whether a finding is shown where a change is reviewed against its base
// (annotations, the summary): when the change introduces it, or when it fails the gate
// anyway (an unchanged image that could not be checked): a failing gate shows why.
func againstBase(r *gate.Result, f finding.Finding) bool {
	return f.Status != finding.Unchanged || r.Fails(f)
}

// MarkdownLimit is the most the Markdown report writes: GitHub's limit on a pull request
// comment (65,536 characters; counted here in bytes, which are never fewer). What does not
// fit is left out with a count.
const MarkdownLimit = 65535

// Markdown writes the job summary (for $GITHUB_STEP_SUMMARY, or a merge request comment):
// the verdict, counts by severity, then a table of findings, file:line first. Against a
// base (--diff-base), the table lists the new findings, then the fixed ones, then the
// rendered change.
func Markdown(w io.Writer, r *gate.Result, o Options) error {
	b := &budget{left: MarkdownLimit}
	icon := map[gate.Verdict]string{gate.Pass: "✅", gate.Fail: "❌", gate.Error: "⛔"}[r.Verdict()]
	head := &strings.Builder{}
	fmt.Fprintf(head, "## %s kubegate: %s\n\n", icon, strings.ToUpper(string(r.Verdict())))
	counts := countBySeverity(r.Findings)
	head.WriteString("| objects | findings |")
	sep := "|---:|---:|"
	vals := fmt.Sprintf("| %d | %d |", r.Objects, len(r.Findings))
	for s := finding.Critical; s >= finding.Info; s-- {
		fmt.Fprintf(head, " %s |", s)
		sep += "---:|"
		vals += fmt.Sprintf(" %d |", counts[s.String()])
	}
	fmt.Fprintf(head, " exempted | baselined | input errors |\n%s---:|---:|---:|\n%s %d | %d | %d |\n\n",
		sep, vals, len(r.Exempted), len(r.Baselined), len(r.Errors))
	shown := r.Findings
	if d := r.Diff; d != nil {
		shown = nil
		for _, f := range r.Findings {
			if againstBase(r, f) {
				shown = append(shown, f)
			}
		}
		news := countStatus(r.Findings, finding.New)
		unchanged := fmt.Sprintf("%d unchanged, which do not fail", len(r.Findings)-news)
		if failing := len(shown) - news; failing > 0 {
			unchanged = fmt.Sprintf("%d unchanged, which do not fail but for %d on images that could not be checked, listed too", len(r.Findings)-news, failing)
		}
		fmt.Fprintf(head, "Against `%s`: **%d new** (%s), %d fixed; rendered objects: %d added, %d removed, %d changed.\n\n",
			d.Base, news, unchanged, len(d.Fixed), len(d.Objects.Added), len(d.Objects.Removed), len(d.Objects.Changed))
	}
	fmt.Fprintf(head, "Findings at or above **%s** fail the gate, and so does every image that could not be checked.\n", r.FailOn)
	b.add(head.String())
	if len(r.Errors) > 0 {
		b.add("\n### Input errors\n\n| location | error |\n|---|---|\n")
		for _, e := range r.Errors {
			b.row(fmt.Sprintf("| `%s` | %s |\n", o.at(e.File, e.Line), cell(e.Msg)))
		}
		b.more("input errors")
	}
	title := "Findings"
	if r.Diff != nil {
		title = "New findings"
	}
	findingTable(b, title, shown, o)
	if d := r.Diff; d != nil {
		findingTable(b, "Fixed", d.Fixed, o)
		if !d.Objects.Empty() {
			b.add("\n### Rendered changes\n\n<details><summary>What the change does to the objects the cluster receives</summary>\n\n````diff\n")
			for _, c := range objectChanges(d) {
				s := fmt.Sprintf("%s %s  (%s)\n", c.mark, c.obj.Object, location(c.obj.Source.File, c.obj.Source.Line))
				for _, f := range c.obj.Fields {
					s += fmt.Sprintf("    %s: %s\n", f.Path, fieldChange(f))
				}
				if c.obj.MoreFields > 0 {
					s += fmt.Sprintf("    …and %s more\n", Count(c.obj.MoreFields, "field", "fields"))
				}
				b.row(strings.ReplaceAll(s, "````", "` ` ` `"))
			}
			b.add("````\n")
			b.more("changed objects")
			b.add("\n</details>\n")
		}
	}
	if len(r.Notes) > 0 {
		b.add("\n<details><summary>Notes</summary>\n\n")
		for _, n := range r.Notes {
			b.row(fmt.Sprintf("- %s\n", cell(n)))
		}
		b.more("notes")
		b.add("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func findingTable(b *budget, title string, fs []finding.Finding, o Options) {
	if len(fs) == 0 {
		return
	}
	b.add("\n### " + title + "\n\n| location | severity | rule | object | message |\n|---|---|---|---|---|\n")
	for i, f := range fs {
		if i == summaryRows {
			b.dropped += len(fs) - summaryRows
			break
		}
		b.row(fmt.Sprintf("| `%s` | %s | [%s](%s) | %s | %s |\n", o.at(f.Source.File, f.Source.Line),
			f.Severity, f.RuleID, RuleURL(f.RuleID), cell(f.Object.String()), cell(f.Message)))
	}
	b.more("findings")
}

// budget writes Markdown up to a size: a row that does not fit (with room left for the
// section's closing lines) is counted instead, and more says how many were left out.
type budget struct {
	strings.Builder
	left    int
	dropped int
}

func (b *budget) add(s string) {
	if len(s) <= b.left {
		b.WriteString(s)
		b.left -= len(s)
	}
}

func (b *budget) row(s string) {
	if b.dropped > 0 || len(s)+budgetClose > b.left {
		b.dropped++
		return
	}
	b.add(s)
}

// budgetClose is the room a section's closing lines take: the count of what was left out,
// a fence, a </details>.
const budgetClose = 400

func (b *budget) more(what string) {
	if b.dropped > 0 {
		b.add(fmt.Sprintf("\n…and %d more %s: see the SARIF, JSON or text report.\n", b.dropped, what))
		b.dropped = 0
	}
}

// cellEscaper keeps text inside one Markdown table cell and out of HTML.
var cellEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", "", "<", "&lt;", ">", "&gt;", "&", "&amp;")

func cell(s string) string { return cellEscaper.Replace(s) }
