package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/images"
)

func result() *gate.Result {
	return &gate.Result{
		Objects: 2,
		Findings: []finding.Finding{{
			RuleID: "pss-privileged", Severity: finding.Critical,
			Object: manifest.Ref{APIVersion: "v1", Kind: "Pod", Namespace: "apps", Name: "p"},
			Field:  "spec.containers[0].securityContext.privileged", Container: "app",
			Message: `privileged (container "app" must not set securityContext.privileged=true)`,
			Source: manifest.Source{File: "pod.yaml", Line: 11,
				Values: &manifest.ValuesRef{File: "values.yaml", Line: 4, Path: "securityContext.privileged"}},
			Fingerprint: "fp-privileged",
		}, {
			RuleID: "read-only-root-filesystem", Severity: finding.Medium,
			Object:  manifest.Ref{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"},
			Message: "m", Source: manifest.Source{File: "base/d.yaml", Line: 3, Via: "kustomize:overlay"},
			Fingerprint: "fp-rorf",
		}},
		Checked: []gate.Checked{
			{Object: manifest.Ref{APIVersion: "v1", Kind: "Pod", Namespace: "apps", Name: "p"}, Source: manifest.Source{File: "pod.yaml", Line: 1}},
			{Object: manifest.Ref{APIVersion: "v1", Kind: "Service", Namespace: "apps", Name: "s"}, Source: manifest.Source{File: "pod.yaml", Line: 30}},
			{Object: manifest.Ref{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"}, Source: manifest.Source{File: "base/d.yaml", Line: 1, Via: "kustomize:overlay"}},
		},
		Errors: []*manifest.Error{{File: "bad.yaml", Line: 2, Msg: "invalid YAML: x"}},
		Notes:  []string{"images: 1 checked (0 from cache)"},
		FailOn: finding.Medium, // with the input error: verdict "error"
		Images: []*images.Verdict{{
			Image: &images.Image{Ref: "ghcr.io/acme/web:1", Uses: []images.Use{{
				Object: &manifest.Object{APIVersion: "v1", Kind: "Pod", Namespace: "apps", Name: "p"}, Container: "app"}}},
			Digest: "sha256:f902", Platforms: []images.Platform{{OS: "linux", Architecture: "amd64"}}, Users: []string{""},
			OS: "debian 12.7", SignedBy: []string{"key cosign.pub"}, Attested: []string{"slsaprovenance"},
			Counts:   map[string]int{"HIGH": 1},
			Problems: []images.Problem{{RuleID: "image-runs-as-root", RootUser: true, Message: "image runs as root"}, {RuleID: "image-vulnerable", Message: "CVE-1 (high) in openssl"}},
		}},
	}
}

// TestJSONContract pins the key names later formats and users' scripts rely on.
func TestJSONContract(t *testing.T) {
	var buf bytes.Buffer
	if err := JSON(&buf, result()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m any) []string {
		var ks []string
		for k := range m.(map[string]any) {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	f := doc["findings"].([]any)[0]
	checks := map[string][]string{
		"top":     {"errors", "findings", "images", "notes", "summary"},
		"image":   {"attested", "details", "digest", "image", "os", "platforms", "problems", "signedBy", "usedBy", "users", "vulnerabilities"},
		"finding": {"container", "field", "fingerprint", "fix", "message", "object", "practices", "refs", "rule", "severity", "source"},
		"object":  {"apiVersion", "kind", "name", "namespace"},
		"source":  {"file", "line", "values"},
		"values":  {"file", "line", "path"},
		"summary": {"baselined", "bySeverity", "errors", "exempted", "failOn", "findings", "objects", "verdict"},
		"sev":     {"critical", "high", "info", "low", "medium"},
	}
	got := map[string][]string{
		"top": keys(doc), "finding": keys(f), "image": keys(doc["images"].([]any)[0]), "object": keys(f.(map[string]any)["object"]),
		"source": keys(f.(map[string]any)["source"]), "summary": keys(doc["summary"]),
		"values": keys(f.(map[string]any)["source"].(map[string]any)["values"]),
		"sev":    keys(doc["summary"].(map[string]any)["bySeverity"]),
	}
	for k, want := range checks {
		if !slices.Equal(got[k], want) {
			t.Errorf("%s keys %v, want %v", k, got[k], want)
		}
	}
	fm := f.(map[string]any)
	if fm["severity"] != "critical" || fm["rule"] != "pss-privileged" || fm["fix"] == "" ||
		doc["summary"].(map[string]any)["verdict"] != "error" {
		t.Errorf("values: %v", fm)
	}
	if via := doc["findings"].([]any)[1].(map[string]any)["source"].(map[string]any)["via"]; via != "kustomize:overlay" {
		t.Errorf("via %v", via)
	}
}

func TestText(t *testing.T) {
	var buf bytes.Buffer
	if err := Text(&buf, result(), Options{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Files named once; line, severity and rule in aligned columns; the field and the
	// values line under the row; plurals right.
	want := `Input errors
bad.yaml:2  ERROR  invalid YAML: x

pod.yaml
  11  CRITICAL  pss-privileged             Pod apps/p: privileged (container "app" must not set securityContext.privileged=true)
      at spec.containers[0].securityContext.privileged; value set in values.yaml:4 (securityContext.privileged)

base/d.yaml  (via kustomize:overlay)
   3  MEDIUM    read-only-root-filesystem  Deployment d: m

How to fix
  pss-privileged: Remove securityContext.privileged: true (or set it to false).
  read-only-root-filesystem: Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the container must write.

note: images: 1 checked (0 from cache)

2 objects, 2 findings (1 critical, 0 high, 1 medium, 0 low, 0 info), 1 input error — ERROR (failOn: medium)
`
	if out != want {
		t.Errorf("text report:\n%s\nwant:\n%s", out, want)
	}
	one := &gate.Result{Objects: 1, FailOn: finding.Medium, Findings: result().Findings[1:]}
	buf.Reset()
	Text(&buf, one, Options{})
	if !strings.Contains(buf.String(), "\n1 object, 1 finding (0 critical, 0 high, 1 medium, 0 low, 0 info) — FAIL (failOn: medium)\n") {
		t.Errorf("plurals:\n%s", buf.String())
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour without a terminal")
	}
	buf.Reset()
	Text(&buf, result(), Options{Color: true})
	if !strings.Contains(buf.String(), "\x1b[1;31mCRITICAL") {
		t.Error("no colour when asked")
	}
}

func TestImagesTable(t *testing.T) {
	var buf bytes.Buffer
	if err := Images(&buf, result()); err != nil {
		t.Fatal(err)
	}
	want := `IMAGE               DIGEST       SIGNED BY                       VULNS C/H/M/L  USER    PROBLEMS                             USED BY
ghcr.io/acme/web:1  sha256:f902  key cosign.pub +slsaprovenance  0/1/0/0        (root)  image-runs-as-root,image-vulnerable  Pod apps/p/app
ghcr.io/acme/web:1: image-runs-as-root: image runs as root
ghcr.io/acme/web:1: image-vulnerable: CVE-1 (high) in openssl
note: images: 1 checked (0 from cache)
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestJSONLayoutIsEncoders: the streamed JSON report is byte for byte what json.Encoder with
// a two-space indent wrote (HTML and line-separator escaping, empty and nil values, floats).
func TestJSONLayoutIsEncoders(t *testing.T) {
	v := map[string]any{"a": "<x> & \u2028 \"q\" é \x01", "b": []string{}, "c": nil, "d": []any{map[string]any{}},
		"e": 1.5e300, "f": JSONFinding{Rule: "r<", Message: "m&"}}
	var want, got bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(&got, v); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("got\n%s\nwant\n%s", got.String(), want.String())
	}
}
