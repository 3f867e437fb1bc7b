package report

import (
	"io"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
)

// gitlabIssue is one entry of a GitLab Code Quality report (a subset of the Code Climate
// format: the fields GitLab reads).
type gitlabIssue struct {
	Description string         `json:"description"`
	CheckName   string         `json:"check_name"`
	Fingerprint string         `json:"fingerprint"`
	Severity    string         `json:"severity"`
	Location    gitlabLocation `json:"location"`
}

type gitlabLocation struct {
	Path  string `json:"path"`
	Lines struct {
		Begin int `json:"begin"`
	} `json:"lines"`
}

// gitlabSeverity maps kubegate's severities onto GitLab's five.
var gitlabSeverity = map[finding.Severity]string{
	finding.Info: "info", finding.Low: "minor", finding.Medium: "major", finding.High: "critical", finding.Critical: "blocker",
}

// GitLabCodeQuality writes a GitLab Code Quality report (artifacts:reports:codequality):
// one issue per finding, with the finding's fingerprint so that GitLab tells new issues of
// a merge request from old ones; input errors are blockers.
func GitLabCodeQuality(w io.Writer, r *gate.Result, o Options) error {
	issues := []gitlabIssue{}
	add := func(desc, check, fp string, sev string, file string, line int) {
		is := gitlabIssue{Description: desc, CheckName: check, Fingerprint: fp, Severity: sev}
		is.Location.Path = o.path(file)
		is.Location.Lines.Begin = startLine(line)
		issues = append(issues, is)
	}
	for _, f := range r.Findings {
		add(f.Object.String()+": "+f.Message, f.RuleID, f.Fingerprint, gitlabSeverity[f.Severity], f.Source.File, f.Source.Line)
	}
	for _, e := range r.Errors {
		add(e.Msg, "input-error", finding.Fingerprint("input-error\x00"+o.path(e.File)+"\x00"+e.Msg), "blocker", e.File, e.Line)
	}
	return writeJSON(w, issues)
}
