package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/schematest"
)

func write(t *testing.T, format string, r *gate.Result, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, format, r, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSARIF(t *testing.T) {
	root := t.TempDir()
	r := result()
	for i := range r.Findings { // as the gate gives them when run from a subdirectory
		r.Findings[i].Source.File = filepath.Join(root, "deploy", r.Findings[i].Source.File)
	}
	out := write(t, "sarif", r, Options{Version: "v1.2.3", Root: root})
	schematest.Validate(t, "sarif-schema-2.1.0.json", out, false)

	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name, Version string
					Rules         []struct {
						ID               string `json:"id"`
						ShortDescription struct{ Text string }
						FullDescription  struct{ Text string }
						Help             struct{ Text, Markdown string }
						HelpURI          string `json:"helpUri"`
						Properties       map[string]any
					}
				}
			}
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []struct {
				RuleID              string `json:"ruleId"`
				RuleIndex           int    `json:"ruleIndex"`
				Level               string
				Message             struct{ Text string }
				PartialFingerprints map[string]string
				Locations           []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						}
						Region struct{ StartLine int }
					}
				}
				RelatedLocations []struct {
					Message          struct{ Text string }
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						}
						Region struct{ StartLine int }
					}
				} `json:"relatedLocations"`
			}
			Invocations []struct {
				ExecutionSuccessful        bool
				ToolExecutionNotifications []struct {
					Level   string
					Message struct{ Text string }
				}
			}
		}
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	// The values file line that sets the value at fault, for a chart user.
	if rl := run.Results[0].RelatedLocations; len(rl) != 1 || rl[0].Message.Text != "value securityContext.privileged set here" ||
		rl[0].PhysicalLocation.ArtifactLocation.URI != "values.yaml" || rl[0].PhysicalLocation.Region.StartLine != 4 {
		t.Errorf("related locations %+v", rl)
	}
	d := run.Tool.Driver
	if d.Name != "kubegate" || d.Version != "v1.2.3" || len(d.Rules) != 2 {
		t.Fatalf("driver %+v", d)
	}
	priv := d.Rules[0]
	if priv.ID != "pss-privileged" || priv.ShortDescription.Text != "Privileged containers" ||
		!strings.Contains(priv.FullDescription.Text, "pod-security-admission") ||
		!strings.Contains(priv.Help.Markdown, "**Fix:** Remove securityContext.privileged: true") ||
		!strings.Contains(priv.Help.Text, "Fix: Remove securityContext.privileged") ||
		priv.HelpURI != RuleDocs+"#pss-privileged" ||
		priv.Properties["security-severity"] != "9.5" {
		t.Errorf("rule %+v", priv)
	}
	if tags := priv.Properties["tags"].([]any); tags[0] != "security" || !slices.Contains(tags, any("practice-000-2")) {
		t.Errorf("tags %v", tags)
	}
	if got := run.OriginalURIBaseIDs["%SRCROOT%"].URI; got != "file://"+filepath.ToSlash(root)+"/" {
		t.Errorf("SRCROOT %q", got)
	}
	res := run.Results[0]
	loc := res.Locations[0].PhysicalLocation
	if res.RuleID != "pss-privileged" || res.RuleIndex != 0 || res.Level != "error" ||
		res.Message.Text != `Pod apps/p: privileged (container "app" must not set securityContext.privileged=true)` ||
		res.PartialFingerprints["kubegate/v1"] != "fp-privileged" ||
		loc.ArtifactLocation.URI != "deploy/pod.yaml" || loc.ArtifactLocation.URIBaseID != "%SRCROOT%" || loc.Region.StartLine != 11 {
		t.Errorf("result %+v", res)
	}
	if run.Results[1].RuleIndex != 1 || run.Results[1].Level != "error" {
		t.Errorf("second result %+v", run.Results[1])
	}
	inv := run.Invocations[0]
	if inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 2 ||
		inv.ToolExecutionNotifications[0].Message.Text != "invalid YAML: x" || inv.ToolExecutionNotifications[0].Level != "error" {
		t.Errorf("invocation %+v", inv)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestSARIFLevels: below failOn is a warning, info a note; an empty run is still valid.
func TestSARIFLevels(t *testing.T) {
	if level(false, finding.Medium) != "warning" || level(false, finding.Info) != "note" ||
		level(true, finding.High) != "error" || level(true, finding.Info) != "error" {
		t.Error("levels")
	}
	out := write(t, "sarif", &gate.Result{FailOn: finding.Medium}, Options{Version: "dev"})
	schematest.Validate(t, "sarif-schema-2.1.0.json", out, false)
	if !bytes.Contains(out, []byte(`"results": []`)) {
		t.Errorf("an empty run must say it has no results:\n%s", out)
	}
}

func TestJUnit(t *testing.T) {
	r := result()
	r.Findings[1].Severity = finding.Low // below failOn: reported, passing
	out := write(t, "junit", r, Options{Version: "v1"})
	var doc junitSuites
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Tests != 4 || doc.Failures != 1 || doc.Errors != 1 || len(doc.Suites) != 3 {
		t.Fatalf("totals tests=%d failures=%d errors=%d suites=%d\n%s", doc.Tests, doc.Failures, doc.Errors, len(doc.Suites), out)
	}
	pod, kust, bad := doc.Suites[0], doc.Suites[1], doc.Suites[2]
	if pod.Name != "pod.yaml" || pod.Tests != 2 || pod.Failures != 1 {
		t.Errorf("pod.yaml suite %+v", pod)
	}
	if c := pod.Cases[0]; c.Name != "Service apps/s" || c.Failure != nil || c.Classname != "kubegate.Service" || c.Line != 30 {
		t.Errorf("passing object %+v", c)
	}
	f := pod.Cases[1]
	if f.Name != "Pod apps/p: pss-privileged (spec.containers[0].securityContext.privileged)" || f.Classname != "kubegate.pss-privileged" ||
		f.File != "pod.yaml" || f.Line != 11 || f.Failure == nil || f.Failure.Type != "critical" ||
		!strings.HasPrefix(f.Failure.Body, "pod.yaml:11\nCRITICAL pss-privileged: Pod apps/p: privileged") ||
		!strings.Contains(f.Failure.Body, "Fix: Remove securityContext.privileged") {
		t.Errorf("failing case %+v", f)
	}
	if kust.Name != "kustomize:overlay" || len(kust.Cases) != 1 || kust.Cases[0].Failure != nil ||
		kust.Cases[0].SystemOut == nil || !strings.Contains(kust.Cases[0].SystemOut.Text, "base/d.yaml:3\nLOW read-only-root-filesystem") {
		t.Errorf("below failOn must pass with the finding on system-out: %+v", kust)
	}
	if bad.Errors != 1 || bad.Cases[0].Error == nil || bad.Cases[0].Error.Message != "invalid YAML: x" {
		t.Errorf("input error %+v", bad)
	}
}

func TestGitLabCodeQuality(t *testing.T) {
	out := write(t, "gitlab", result(), Options{})
	var issues []map[string]any
	if err := json.Unmarshal(out, &issues); err != nil {
		t.Fatal(err)
	}
	if len(issues) != 3 {
		t.Fatalf("%d issues", len(issues))
	}
	want := map[string]any{
		"description": `Pod apps/p: privileged (container "app" must not set securityContext.privileged=true)`,
		"check_name":  "pss-privileged", "fingerprint": "fp-privileged", "severity": "blocker",
		"location": map[string]any{"path": "pod.yaml", "lines": map[string]any{"begin": 11.0}},
	}
	if jsonString(issues[0]) != jsonString(want) {
		t.Errorf("got  %s\nwant %s", jsonString(issues[0]), jsonString(want))
	}
	if issues[1]["severity"] != "major" || issues[2]["check_name"] != "input-error" || issues[2]["severity"] != "blocker" ||
		issues[2]["fingerprint"] == "" || issues[2]["fingerprint"] == issues[0]["fingerprint"] {
		t.Errorf("issues %s", out)
	}
	if out := write(t, "gitlab", &gate.Result{}, Options{}); string(out) != "[]\n" {
		t.Errorf("no findings must be an empty array, got %q", out)
	}
}

func TestGitHubAnnotations(t *testing.T) {
	r := result()
	r.Findings = append(r.Findings, finding.Finding{RuleID: "exemption-unused", Severity: finding.Info,
		Object: manifest.Ref{Kind: "Policy", Name: "kubegate.yaml"}, Message: "50%, done: x\nnext",
		Source: manifest.Source{File: "dir,with:odd%chars/kubegate.yaml"}})
	got := string(write(t, "github", r, Options{}))
	want := "::error file=bad.yaml,line=2,title=kubegate%3A input error::invalid YAML: x\n" +
		"::error file=pod.yaml,line=11,title=kubegate pss-privileged (critical)::Pod apps/p: privileged (container \"app\" must not set securityContext.privileged=true)%0AFix: Remove securityContext.privileged: true (or set it to false).\n" +
		"::error file=base/d.yaml,line=3,title=kubegate read-only-root-filesystem (medium)::Deployment d: m%0AFix: "
	if !strings.HasPrefix(got, want) {
		t.Errorf("got\n%s\nwant prefix\n%s", got, want)
	}
	if !strings.HasSuffix(got, "::notice file=dir%2Cwith%3Aodd%25chars/kubegate.yaml,title=kubegate exemption-unused (info)::Policy kubegate.yaml: 50%25, done: x%0Anext%0AFix: Remove the exemption, or correct its rule and object selectors.\n") {
		t.Errorf("escaping:\n%s", got)
	}
}

func TestMarkdown(t *testing.T) {
	r := result()
	r.Findings[1].Message = "a | b <script>"
	got := string(write(t, "markdown", r, Options{}))
	for _, want := range []string{
		"## ⛔ kubegate: ERROR\n",
		"| objects | findings | critical | high | medium | low | info | exempted | baselined | input errors |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n| 2 | 2 | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 1 |\n",
		"| `bad.yaml:2` | invalid YAML: x |\n",
		"| `pod.yaml:11` | critical | [pss-privileged](" + RuleDocs + "#pss-privileged) | Pod apps/p | privileged (container \"app\" must not set securityContext.privileged=true) |\n",
		"| `base/d.yaml:3` | medium | [read-only-root-filesystem](" + RuleDocs + "#read-only-root-filesystem) | Deployment d | a \\| b &lt;script&gt; |\n",
		"- images: 1 checked (0 from cache)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q\n%s", want, got)
		}
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	err := Write(os.Stdout, "yaml", result(), Options{})
	if err == nil || err.Error() != `unknown report format "yaml" (one of github, gitlab, json, junit, markdown, sarif, text)` {
		t.Errorf("err %v", err)
	}
}

// The rules a run makes of admission policies and custom rules are described like the
// catalogue's: SARIF's rule descriptors (valid against the schema), JSON's fix and refs.
func TestRunOwnRulesAreDescribed(t *testing.T) {
	r := result()
	r.Errors = nil
	r.Rules = []*finding.Rule{{ID: "vap:replicas/0", Title: "ValidatingAdmissionPolicy replicas: at most 5", Severity: finding.High,
		Refs: []string{"policies/replicas.yaml:14"}, Fix: "Change the object so that `object.spec.replicas <= 5` holds."}}
	r.Findings = append(r.Findings, finding.Finding{RuleID: "vap:replicas/0", Severity: finding.High,
		Object: manifest.Ref{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"},
		Field:  "spec.replicas", Message: "failed expression: object.spec.replicas <= 5 (ValidatingAdmissionPolicy replicas, binding b: Deny)",
		Source: manifest.Source{File: "base/d.yaml", Line: 7}, Fingerprint: "fp-vap"})
	out := write(t, "sarif", r, Options{Version: "v1.2.3"})
	schematest.Validate(t, "sarif-schema-2.1.0.json", out, false)
	for _, want := range []string{`"id": "vap:replicas/0"`, `"text": "ValidatingAdmissionPolicy replicas: at most 5"`, `"helpUri": "` + AdmissionPolicyDocs + `"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("SARIF lacks %s", want)
		}
	}
	var doc struct {
		Findings []struct {
			Rule, Fix string
			Refs      []string
		}
	}
	if err := json.Unmarshal(write(t, "json", r, Options{}), &doc); err != nil {
		t.Fatal(err)
	}
	f := doc.Findings[len(doc.Findings)-1]
	if f.Rule != "vap:replicas/0" || !slices.Equal(f.Refs, []string{"policies/replicas.yaml:14"}) || !strings.HasPrefix(f.Fix, "Change the object so that") {
		t.Errorf("JSON finding %+v", f)
	}
}
