package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

// The JUnit XML elements GitLab and Jenkins read.
type (
	junitSuites struct {
		XMLName  xml.Name      `xml:"testsuites"`
		Name     string        `xml:"name,attr"`
		Tests    int           `xml:"tests,attr"`
		Failures int           `xml:"failures,attr"`
		Errors   int           `xml:"errors,attr"`
		Suites   []*junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Properties []junitProperty `xml:"properties>property,omitempty"`
		Cases      []junitCase     `xml:"testcase"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		File      string        `xml:"file,attr,omitempty"`
		Line      int           `xml:"line,attr,omitempty"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		SystemOut *junitText    `xml:"system-out,omitempty"`
	}
	junitText struct {
		Text string `xml:",cdata"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Body    string `xml:",cdata"`
	}
)

// JUnit writes JUnit XML for GitLab's and Jenkins' test reports: one testsuite per input
// (a file, Kustomize root or chart); a passing testcase per object without findings; a
// testcase per finding — failed when it fails the gate, passed with the finding on
// system-out when it is below failOn — so that a merge request shows each new violation
// as a new failed test; an errored testcase per input error.
func JUnit(w io.Writer, r *gate.Result, o Options) error {
	doc := junitSuites{Name: "kubegate"}
	suites := map[string]*junitSuite{}
	suite := func(input string) *junitSuite {
		s := suites[input]
		if s == nil {
			s = &junitSuite{Name: input, Properties: []junitProperty{{"kubegate.version", o.Version}, {"kubegate.failOn", r.FailOn.String()}}}
			suites[input] = s
			doc.Suites = append(doc.Suites, s)
		}
		return s
	}
	type objectKey struct {
		ref   manifest.Ref
		input string
	}
	withFindings := map[objectKey]bool{}
	for _, f := range r.Findings {
		withFindings[objectKey{f.Object, inputOf(o, f.Source)}] = true
	}
	for _, c := range r.Checked {
		input := inputOf(o, c.Source)
		s := suite(input)
		if withFindings[objectKey{c.Object, input}] {
			continue
		}
		s.Cases = append(s.Cases, junitCase{Name: c.Object.String(), Classname: "kubegate." + c.Object.Kind,
			File: o.path(c.Source.File), Line: c.Source.Line})
	}
	for _, f := range r.Findings {
		s := suite(inputOf(o, f.Source))
		name := f.Object.String() + ": " + f.RuleID
		if f.Field != "" {
			name += " (" + f.Field + ")"
		}
		c := junitCase{Name: name, Classname: "kubegate." + f.RuleID, File: o.path(f.Source.File), Line: f.Source.Line}
		body := findingText(r, o, f)
		if r.Fails(f) {
			c.Failure = &junitProblem{Message: f.Message, Type: f.Severity.String(), Body: body}
			s.Failures++
		} else {
			c.SystemOut = &junitText{body}
		}
		s.Cases = append(s.Cases, c)
	}
	for _, e := range r.Errors {
		s := suite(o.path(e.File))
		s.Cases = append(s.Cases, junitCase{Name: "render " + o.path(e.File), Classname: "kubegate.input",
			File: o.path(e.File), Line: e.Line,
			Error: &junitProblem{Message: e.Msg, Type: "input-error", Body: o.at(e.File, e.Line) + ": " + e.Msg}})
		s.Errors++
	}
	for _, s := range doc.Suites {
		s.Tests = len(s.Cases)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// inputOf names the input an object came from: the Kustomize root or chart, else its file.
func inputOf(o Options, s manifest.Source) string {
	if s.Via != "" {
		return s.Via
	}
	return o.path(s.File)
}

// findingText is a finding in a few plain lines: where, what, and the fix.
func findingText(r *gate.Result, o Options, f finding.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s %s: %s: %s\n", o.at(f.Source.File, f.Source.Line),
		strings.ToUpper(f.Severity.String()), f.RuleID, f.Object, f.Message)
	if rule, ok := r.Rule(f.RuleID); ok {
		fmt.Fprintf(&b, "Fix: %s\n", rule.Fix)
	}
	return b.String()
}
