package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/diff"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

// diffResult is result() against a base: the privileged finding is new, the other one
// unchanged; one finding fixed; one object changed.
func diffResult() *gate.Result {
	r := result()
	r.Errors = nil
	r.Findings[0].Status, r.Findings[1].Status = finding.New, finding.Unchanged
	r.Diff = &gate.Diff{
		Base: "origin/main (1a2b3c4d5e6f)",
		Fixed: []finding.Finding{{RuleID: "pss-host-namespaces", Severity: finding.High,
			Object: manifest.Ref{Kind: "Deployment", Name: "old"}, Message: "hostNetwork", Source: manifest.Source{File: "old.yaml", Line: 7}}},
		Objects: diff.Objects{
			Added: []diff.Object{{Object: manifest.Ref{Kind: "Service", Namespace: "apps", Name: "s"}, Source: manifest.Source{File: "pod.yaml", Line: 30}}},
			Changed: []diff.Object{{Object: manifest.Ref{Kind: "Pod", Namespace: "apps", Name: "p"}, Source: manifest.Source{File: "pod.yaml", Line: 1},
				Fields: []diff.Field{{Path: "spec.containers[0].securityContext.privileged", Old: "false", New: "true"}, {Path: "spec.hostPID", New: "true"}}}},
		},
	}
	return r
}

// gfm renders Markdown as GitHub does (CommonMark with GitHub's tables, strikethrough,
// autolinks and task lists), with raw HTML kept (GitHub keeps <details>).
func gfm(t *testing.T, md string) string {
	t.Helper()
	var out bytes.Buffer
	md2 := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(html.WithUnsafe()))
	if err := md2.Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestMarkdownDiff(t *testing.T) {
	md := string(write(t, "markdown", diffResult(), Options{}))
	rendered := gfm(t, md)
	for _, want := range []string{
		"<h2>❌ kubegate: FAIL</h2>",
		"<p>Against <code>origin/main (1a2b3c4d5e6f)</code>: <strong>1 new</strong> (1 unchanged, which do not fail), 1 fixed; rendered objects: 1 added, 0 removed, 1 changed.</p>",
		"<h3>New findings</h3>",
		"<td><code>pod.yaml:11</code></td>\n<td>critical</td>",
		"<h3>Fixed</h3>",
		"<td><code>old.yaml:7</code></td>\n<td>high</td>",
		"<h3>Rendered changes</h3>",
		"<pre><code class=\"language-diff\">+ Service apps/s  (pod.yaml:30)\n~ Pod apps/p  (pod.yaml:1)\n    spec.containers[0].securityContext.privileged: false → true\n    spec.hostPID: true (added)\n</code></pre>",
	} {
		if !strings.Contains(rendered, want) {
			t.Errorf("rendered summary lacks %q\n%s", want, rendered)
		}
	}
	// Only the new finding is in the table: the unchanged one does not fail the change.
	if strings.Contains(rendered, "base/d.yaml:3") {
		t.Errorf("the unchanged finding is listed:\n%s", rendered)
	}
}

func TestMarkdownStaysUnderGitHubsLimit(t *testing.T) {
	r := diffResult()
	var changed []diff.Object
	for i := range 3000 {
		changed = append(changed, diff.Object{Object: manifest.Ref{Kind: "ConfigMap", Namespace: "apps", Name: fmt.Sprintf("cm-%04d", i)},
			Source: manifest.Source{File: "cms.yaml", Line: i * 10},
			Fields: []diff.Field{{Path: "data.key", Old: strings.Repeat("a", 100), New: strings.Repeat("b", 100)}}})
	}
	r.Diff.Objects.Changed = changed
	for i := range 500 {
		f := r.Findings[0]
		f.Source.Line = 100 + i
		r.Findings = append(r.Findings, f)
	}
	md := string(write(t, "markdown", r, Options{}))
	if len(md) > MarkdownLimit {
		t.Fatalf("%d bytes, over GitHub's %d", len(md), MarkdownLimit)
	}
	rendered := gfm(t, md)
	shownRows := strings.Count(md, "\n~ ConfigMap apps/cm-")
	if !strings.Contains(md, fmt.Sprintf("…and %d more changed objects", 3000-shownRows)) || shownRows == 0 {
		t.Errorf("%d changed objects shown; the rest not counted:\n%s", shownRows, md[len(md)-500:])
	}
	if !strings.Contains(md, "…and 301 more findings") { // 501 new findings, 200 rows
		t.Errorf("findings beyond the table not counted")
	}
	if !strings.HasSuffix(strings.TrimSpace(rendered), "</details>") {
		t.Errorf("the truncated summary does not close its sections:\n%s", rendered[len(rendered)-300:])
	}
}

func TestGitHubAnnotationsOnlyNew(t *testing.T) {
	got := string(write(t, "github", diffResult(), Options{}))
	if !strings.Contains(got, "file=pod.yaml,line=11") || strings.Contains(got, "base/d.yaml") {
		t.Errorf("annotations:\n%s", got)
	}
}

// TestUnchangedFailingIsShown: an unchanged finding that fails the gate all the same (an
// image that could not be checked) is annotated and listed: a failing gate shows why.
func TestUnchangedFailingIsShown(t *testing.T) {
	r := diffResult()
	r.Findings[1].FailClosed = true
	if !r.Fails(r.Findings[1]) {
		t.Fatal("the fail-closed unchanged finding does not fail: nothing is tested")
	}
	if got := string(write(t, "github", r, Options{})); !strings.Contains(got, "base/d.yaml") {
		t.Errorf("annotations leave out the failing unchanged finding:\n%s", got)
	}
	md := string(write(t, "markdown", r, Options{}))
	for _, want := range []string{"**1 new** (1 unchanged, which do not fail but for 1 on images that could not be checked, listed too)", "`base/d.yaml"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}

func TestJSONDiff(t *testing.T) {
	got := string(write(t, "json", diffResult(), Options{}))
	for _, want := range []string{
		`"status": "new"`, `"status": "unchanged"`,
		`"fixed": [` + "\n" + `    {` + "\n" + `      "rule": "pss-host-namespaces"`,
		`"diff": {` + "\n" + `    "base": "origin/main (1a2b3c4d5e6f)",` + "\n" + `    "added": [`,
		`"removed": [],`,
		`"path": "spec.hostPID",`, `"old": "",`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON lacks %q\n%s", want, got)
		}
	}
	if plain := string(write(t, "json", result(), Options{})); strings.Contains(plain, `"status"`) || strings.Contains(plain, `"diff"`) || strings.Contains(plain, `"fixed"`) {
		t.Errorf("without a base the JSON report has diff fields")
	}
}
