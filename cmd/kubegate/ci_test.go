package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/internal/schematest"
)

// noGitHub keeps the runner's own environment out of a test when it runs in GitHub Actions.
func noGitHub(t *testing.T) {
	for _, v := range []string{"GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_WORKSPACE", "CI_PROJECT_DIR"} {
		t.Setenv(v, "")
	}
}

// chdir runs the rest of the test in dir.
func chdir(t *testing.T, dir string) {
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
}

// TestReportsOnDemo writes every format in one run on the demo app and checks that each
// carries the same finding at the same file:line.
func TestReportsOnDemo(t *testing.T) {
	noGitHub(t)
	demo, _ := filepath.Abs("../../testdata/demo")
	dir := t.TempDir()
	os.CopyFS(filepath.Join(dir, "app"), os.DirFS(demo))
	os.Mkdir(filepath.Join(dir, ".git"), 0o755) // a repository: paths are relative to it
	chdir(t, filepath.Join(dir, "app"))
	args := []string{"check", "--offline", "-n", "monitoring", "kustomize/overlays/prod", "chart"}
	for _, f := range []string{"sarif", "junit", "gitlab", "github", "markdown", "json", "text"} {
		args = append(args, "--output", f+"=../reports/kubegate."+f)
	}
	code, out, errOut := kubegate(t, "", args...)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	const file, line = "app/chart/templates/daemonset.yaml", "15"
	if !strings.Contains(textRows(out), "chart/templates/daemonset.yaml:15  HIGH      pss-host-namespaces") {
		t.Errorf("text on stdout:\n%s", out)
	}
	read := func(format string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "reports", "kubegate."+format))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	sarif := read("sarif")
	schematest.Validate(t, "sarif-schema-2.1.0.json", sarif, false)
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	json.Unmarshal(sarif, &log)
	found := false
	for _, r := range log.Runs[0].Results {
		pl := r.Locations[0].PhysicalLocation
		found = found || r.RuleID == "pss-host-namespaces" && pl.ArtifactLocation.URI == file && pl.Region.StartLine == 15
	}
	if !found {
		t.Errorf("SARIF lacks pss-host-namespaces at %s:15", file)
	}

	var junit struct {
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				File    string `xml:"file,attr"`
				Line    string `xml:"line,attr"`
				Failure *struct {
					Body string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(read("junit"), &junit); err != nil {
		t.Fatal(err)
	}
	found = false
	for _, s := range junit.Suites {
		for _, c := range s.Cases {
			found = found || c.File == file && c.Line == line && c.Failure != nil &&
				strings.HasPrefix(c.Failure.Body, file+":15\nHIGH pss-host-namespaces") && strings.Contains(c.Failure.Body, "Fix: ")
		}
	}
	if !found || junit.Failures == 0 || len(junit.Suites) != 2 {
		t.Errorf("JUnit: %d suites, %d failures, host-namespaces failure found: %v", len(junit.Suites), junit.Failures, found)
	}

	var gl []codeQualityIssue
	if err := json.Unmarshal(read("gitlab"), &gl); err != nil {
		t.Fatal(err)
	}
	found = false
	prints := map[string]bool{}
	for _, i := range gl {
		found = found || i.CheckName == "pss-host-namespaces" && i.Location.Path == file && i.Location.Lines.Begin == 15 && i.Severity == "critical"
		if prints[i.Fingerprint] || len(i.Fingerprint) != 32 {
			t.Errorf("fingerprint %q not unique or malformed", i.Fingerprint)
		}
		prints[i.Fingerprint] = true
	}
	if !found {
		t.Errorf("GitLab report lacks the finding at %s:15", file)
	}

	for format, want := range map[string]string{
		"github":   "::error file=" + file + ",line=15,title=kubegate pss-host-namespaces (high)::DaemonSet monitoring/release-name-metrics-agent: host namespaces (hostNetwork=true)%0AFix: ",
		"markdown": "| `" + file + ":15` | high | [pss-host-namespaces]",
		"json":     `"file": "chart/templates/daemonset.yaml",` + "\n" + `        "line": 15,`,
		"text":     "chart/templates/daemonset.yaml:15  HIGH      pss-host-namespaces",
	} {
		if got := string(read(format)); !strings.Contains(got, want) && !strings.Contains(textRows(got), want) {
			t.Errorf("%s report lacks %q:\n%s", format, want, got)
		}
	}
	if strings.Contains(string(read("text")), "\x1b[") {
		t.Error("colour in a file")
	}
}

func TestOutputFlagErrors(t *testing.T) {
	noGitHub(t)
	for flag, want := range map[string]string{
		"sarif":              `--output "sarif": want FORMAT=PATH`,
		"yaml=x":             `--output "yaml=x": format must be one of github, gitlab, json, junit, markdown, sarif, text`,
		"json=/dev/null/x/y": "--output: mkdir /dev/null: not a directory",
	} {
		code, _, errOut := kubegate(t, "", "check", "--offline", "--output", flag, "../../testdata/demo/chart")
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("--output %s: exit %d, %q; want %q", flag, code, errOut, want)
		}
	}
}

// TestGitHubActionsStep runs check as a step does in GitHub Actions: annotations on the
// log, the summary appended, the outputs set.
func TestGitHubActionsStep(t *testing.T) {
	noGitHub(t)
	dir := t.TempDir()
	summary := write(t, dir, "summary.md", "previous step\n")
	output := write(t, dir, "output", "")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	t.Setenv("GITHUB_OUTPUT", output)
	t.Setenv("GITHUB_WORKSPACE", dir)
	chdir(t, dir)
	write(t, dir, "deploy/pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: apps}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n    securityContext: {privileged: true}\n")
	code, out, _ := kubegate(t, "", "check", "--offline", "--output", "sarif=out/k.sarif", "deploy")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "\n::error file=deploy/pod.yaml,line=8,title=kubegate pss-privileged (critical)::Pod apps/p: privileged") {
		t.Errorf("no annotation in\n%s", out)
	}
	s, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(s), "previous step\n## ❌ kubegate: FAIL\n") || !strings.Contains(string(s), "| `deploy/pod.yaml:8` | critical | [pss-privileged]") {
		t.Errorf("summary:\n%s", s)
	}
	o, _ := os.ReadFile(output)
	if !strings.HasPrefix(string(o), "verdict=fail\nfindings=") || !strings.HasSuffix(string(o), "exit-code=1\nsarif-file=out/k.sarif\n") {
		t.Errorf("outputs:\n%s", o)
	}
	// A JSON report on stdout stays JSON: the annotations go to stderr.
	_, out, errOut := kubegate(t, "", "check", "--offline", "--format", "json", "deploy")
	jsonReport(t, out)
	if !strings.Contains(errOut, "::error file=deploy/pod.yaml,line=8") {
		t.Errorf("annotations not on stderr: %q", errOut)
	}
	// Opting out.
	_, out, _ = kubegate(t, "", "check", "--offline", "--github-actions=false", "deploy")
	if strings.Contains(out, "::error") {
		t.Error("annotations with --github-actions=false")
	}
}

// TestBaselineRoundTrip: record the findings, move lines, still pass; add a violation,
// fail on that one only.
func TestBaselineRoundTrip(t *testing.T) {
	noGitHub(t)
	dir := t.TempDir()
	chdir(t, dir)
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: apps}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n    securityContext: {privileged: true}\n"
	write(t, dir, "pod.yaml", pod)
	code, out, errOut := kubegate(t, "", "check", "--offline", "--write-baseline", "baseline.yaml", "pod.yaml")
	if code != 0 || !strings.Contains(out, "baselined — PASS") || !strings.Contains(out, "note: baseline: wrote ") {
		t.Fatalf("--write-baseline: exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile("baseline.yaml")
	if !strings.Contains(string(b), "kind: Baseline") || !strings.Contains(string(b), "rule: pss-privileged\n    object: Pod apps/p\n    at: pod.yaml:8") {
		t.Errorf("baseline file:\n%s", b)
	}
	// Unrelated edits move every line.
	write(t, dir, "pod.yaml", "# the web pod\n\n"+strings.Replace(pod, "metadata: {", "metadata: {labels: {app: web},\n  ", 1))
	code, out, _ = kubegate(t, "", "check", "--offline", "--baseline", "baseline.yaml", "pod.yaml")
	if code != 0 || strings.Contains(out, "match nothing") {
		t.Fatalf("after moving lines: exit %d\n%s", code, out)
	}
	// A new violation fails, alone.
	write(t, dir, "pod.yaml", strings.Replace(pod, "spec:\n", "spec:\n  hostPID: true\n", 1))
	code, out, _ = kubegate(t, "", "check", "--offline", "--baseline", "baseline.yaml", "--format", "json", "pod.yaml")
	r := jsonReport(t, out)
	if code != 1 || len(r.Findings) != 1 || r.Findings[0].Rule != "pss-host-namespaces" || r.Summary.Baselined == 0 {
		t.Fatalf("new violation: exit %d, %+v", code, r.Findings)
	}
	// Fixing a baselined finding leaves a stale entry, which is said.
	write(t, dir, "pod.yaml", strings.Replace(pod, "privileged: true", "privileged: false", 1))
	_, out, _ = kubegate(t, "", "check", "--offline", "--baseline", "baseline.yaml", "pod.yaml")
	if !strings.Contains(out, "entries match nothing any more (fixed?)") {
		t.Errorf("no stale note:\n%s", out)
	}
	// A baseline that is not one is an error, not a silent pass.
	write(t, dir, "bad.yaml", "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\n")
	code, _, errOut = kubegate(t, "", "check", "--offline", "--baseline", "bad.yaml", "pod.yaml")
	if code != 2 || !strings.Contains(errOut, "bad.yaml: not a kubegate baseline") {
		t.Errorf("bad baseline: exit %d %q", code, errOut)
	}
}

// TestRuleDocsUpToDate: docs/rules.md is what reports link to; it must list every rule as
// the binary knows it. Regenerate with `kubegate rules --format markdown > docs/rules.md`.
func TestRuleDocsUpToDate(t *testing.T) {
	code, out, errOut := kubegate(t, "", "rules", "--format", "markdown")
	if code != 0 {
		t.Fatal(errOut)
	}
	if !strings.Contains(out, "\n## pss-privileged\n\n**Privileged containers** · severity critical") {
		t.Errorf("markdown:\n%.600s", out)
	}
	if docs, _ := os.ReadFile("../../docs/rules.md"); string(docs) != out {
		t.Error("docs/rules.md is stale: run `bin/kubegate rules --format markdown > docs/rules.md`")
	}
}
