package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kubegate/kubegate/gate/report"
	"github.com/kubegate/kubegate/images/cosign"
	"github.com/kubegate/kubegate/images/imagetest"
	"github.com/kubegate/kubegate/images/trivy"
)

// imageWorld is a loopback registry with two images, a DB marking one vulnerable, a key,
// a policy and manifests using both images.
type imageWorld struct {
	reg                              *imagetest.Registry
	dir, policy, manifests, trivyDir string
	webDigest                        name.Digest // acme/web:1, signed with cosign.pub
}

// filler bytes are added to each image (0 in tests, realistic sizes in benchmarks).
func newImageWorld(t testing.TB, latency time.Duration, filler int) *imageWorld {
	t.Helper()
	w := &imageWorld{reg: imagetest.NewRegistry(), dir: t.TempDir()}
	t.Cleanup(w.reg.Close)
	if latency > 0 {
		w.reg.Inject("/v2/", imagetest.Fault{Delay: latency})
	}
	signer, err := imagetest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := signer.PublicKeyPEM()
	os.WriteFile(filepath.Join(w.dir, "cosign.pub"), pub, 0o644)
	web, _ := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.15-1~deb12u1"}, "10001", "linux/amd64")
	agent, _ := imagetest.Alpine("3.22.1", map[string]string{"musl": "1.2.5-r9"}, "", "linux/amd64")
	if filler > 0 {
		web, _ = imagetest.WithFiller(web, filler)
		agent, _ = imagetest.WithFiller(agent, filler/4)
	}
	d, err := w.reg.Push("acme/web:1", web)
	if err != nil {
		t.Fatal(err)
	}
	w.webDigest = d
	if err := signer.Attest(w.reg, d, cosign.SignPredicate, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.reg.Push("acme/agent:1", agent); err != nil {
		t.Fatal(err)
	}
	w.trivyDir = filepath.Join(w.dir, "trivy")
	if err := trivy.WriteDB(w.trivyDir, []trivy.Advisory{{Source: "alpine 3.22", Package: "musl", ID: "CVE-2026-3001", Fixed: "1.2.5-r10", Severity: "CRITICAL", Title: "musl: overflow"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	h := w.reg.Host()
	w.policy = write(t, w.dir, "kubegate.yaml", fmt.Sprintf(`apiVersion: kubegate.dev/v1alpha1
kind: Policy
images:
  insecureRegistries: [%[1]q]
  rules:
    - match: ["%[1]s/acme/web"]
      signature: {keys: [cosign.pub], ignoreTlog: true}
  defaultRule: {vulnerabilities: {failOn: high}}
rules:
  disable: [image-registry-insecure, image-pull-policy, network-policy-default-deny, service-account-token-automount, container-resources]
`, h))
	pod := `    spec:
      securityContext: {runAsNonRoot: %s, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: c
        image: %s
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`
	w.manifests = write(t, w.dir, "app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n"+
		fmt.Sprintf(pod, "true", h+"/acme/web:1")+
		"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: agent, namespace: shop}\nspec:\n  template:\n"+
		fmt.Sprintf(pod, "false", h+"/acme/agent:1"))
	return w
}

func (w *imageWorld) args(cmd string, extra ...string) []string {
	return append([]string{cmd, "--config", w.policy, "--skip-db-update", "--trivy-cache-dir", w.trivyDir,
		"--verdict-cache-dir", filepath.Join(w.dir, "cache"), w.manifests}, extra...)
}

func TestImageStage(t *testing.T) {
	w := newImageWorld(t, 0, 0)
	h := w.reg.Host()
	code, out, errOut := kubegate(t, "", w.args("check", "--format", "json")...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	r := jsonReport(t, out)
	var got []string
	for _, f := range r.Findings {
		got = append(got, fmt.Sprintf("%d %s %s %s: %s", f.Source.Line, f.Rule, f.Severity, strings.Join(f.Practices, ","), f.Message))
	}
	agentDigest := r.Images[0].Digest
	want := []string{
		`19 pss-run-as-non-root medium 000-2,002-4,002-5: runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)`,
		fmt.Sprintf(`22 image-runs-as-root high 002-5: container "c": image %s/acme/agent:1 (%s, linux/amd64) runs as root (config User "") and the pod sets neither runAsNonRoot: true nor a non-zero runAsUser`, h, agentDigest),
		fmt.Sprintf(`22 image-vulnerable critical 002-5: image %s/acme/agent:1@%s: CVE-2026-3001 (critical) in musl 1.2.5-r9, fixed in 1.2.5-r10: musl: overflow`, h, agentDigest),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(r.Images) != 2 || r.Images[1].SignedBy[0] != "key cosign.pub" || r.Images[1].Users[0] != "10001" || r.Images[0].Vulns["CRITICAL"] != 1 {
		t.Errorf("images = %+v", r.Images)
	}

	// Unchanged digests: the verdicts come from the cache, with the same findings.
	_, out2, progressLog := kubegate(t, "", w.args("check", "--format", "json")...)
	// Not a terminal (a CI log): plain progress lines, the first and the last count.
	if !strings.Contains(progressLog, "images checked: 0/2\n") || !strings.Contains(progressLog, "images checked: 2/2\n") || strings.Contains(progressLog, "\r") {
		t.Errorf("progress in a log:\n%q", progressLog)
	}
	if _, _, quiet := kubegate(t, "", w.args("check", "--format", "json", "--quiet")...); strings.Contains(quiet, "images checked") {
		t.Errorf("progress with --quiet:\n%s", quiet)
	}
	r2 := jsonReport(t, out2)
	if len(r2.Findings) != len(r.Findings) || !strings.Contains(strings.Join(r2.Notes, "\n"), "images: 2 checked (2 from cache)") {
		t.Fatalf("second run: %d findings, notes %v", len(r2.Findings), r2.Notes)
	}

	code, out, _ = kubegate(t, "", w.args("images")...)
	for _, s := range []string{
		"IMAGE", "SIGNED BY", h + "/acme/web:1", "key cosign.pub", "10001", "Deployment shop/web/c",
		h + "/acme/agent:1", "1/0/0/0", "(root)", "image-runs-as-root,image-vulnerable", "Deployment shop/agent/c",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("images table lacks %q:\n%s", s, out)
		}
	}
	if code != 0 {
		t.Errorf("images exit %d", code)
	}
	// Every problem with its reason, after the table.
	for _, s := range []string{
		h + "/acme/agent:1: image-runs-as-root: image " + h + "/acme/agent:1 (" + agentDigest + ", linux/amd64) runs as root (config User \"\")",
		h + "/acme/agent:1: image-vulnerable: image " + h + "/acme/agent:1@" + agentDigest + ": CVE-2026-3001 (critical) in musl 1.2.5-r9",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("images output lacks the reason %q:\n%s", s, out)
		}
	}
	_, out, _ = kubegate(t, "", w.args("images", "--format", "json")...)
	var listed []report.JSONImage
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 2 || len(listed[0].Details) != 2 {
		t.Errorf("images --format json: %v %+v", err, listed)
	}
	// Offline: the images the inputs use, not checked.
	code, out, _ = kubegate(t, "", w.args("images", "--offline")...)
	if code != 0 || !strings.Contains(out, h+"/acme/agent:1") || !strings.Contains(out, "not checked (--offline)") || !strings.Contains(out, "Deployment shop/agent/c") {
		t.Errorf("images --offline: exit %d\n%s", code, out)
	}

	_, out, _ = kubegate(t, "", w.args("check", "--offline")...)
	if !strings.Contains(out, fmt.Sprintf("note: images: 2 not checked (--offline): %[1]s/acme/agent:1, %[1]s/acme/web:1", h)) {
		t.Errorf("--offline does not say which images were skipped:\n%s", out)
	}
}

func TestImageStageWithoutDBFailsClosed(t *testing.T) {
	w := newImageWorld(t, 0, 0)
	empty := t.TempDir()
	args := w.args("check", "--no-cache")
	args[slices.Index(args, "--trivy-cache-dir")+1] = empty
	code, out, _ := kubegate(t, "", args...)
	if code != 1 || strings.Count(out, " image-not-scanned ") != 2 || strings.Contains(out, "image-vulnerability-db-stale") ||
		!strings.Contains(out, "could not be scanned: vulnerability DB in "+empty+"/db: --skip-db-update cannot be specified on the first run") {
		t.Fatalf("exit %d; want both images unscanned with the reason:\n%s", code, out)
	}
}

// BenchmarkImageStage: a whole `kubegate check` of two images (30 MB and 7.5 MB of
// layers, as slim Debian and Alpine bases weigh), first with nothing cached (no verdicts,
// no analysed layers), then again with unchanged digests; with the registry on loopback
// and with 50 ms of latency per request, as a registry across the internet.
func BenchmarkImageStage(b *testing.B) {
	for _, latency := range []time.Duration{0, 50 * time.Millisecond} {
		w := newImageWorld(b, latency, 30<<20)
		for _, warm := range []bool{false, true} {
			name := fmt.Sprintf("latency=%v/%s", latency, map[bool]string{false: "first", true: "cached"}[warm])
			b.Run(name, func(b *testing.B) {
				cache := filepath.Join(w.dir, "cache-warm")
				for i := 0; i < b.N; i++ {
					if !warm {
						b.StopTimer()
						cache = filepath.Join(b.TempDir(), "cache")
						os.RemoveAll(filepath.Join(w.trivyDir, "kubegate-layers")) // the analysed layers
						b.StartTimer()
					}
					args := w.args("check", "--verdict-cache-dir", cache)
					if code, out, _ := kubegate(b, "", args...); code != 1 {
						b.Fatalf("exit %d\n%s", code, out)
					}
				}
			})
		}
	}
}

// BenchmarkSlowImages: N distinct images behind a registry that takes 200 ms per request
// are checked in about the time of one, not N times as long.
func BenchmarkSlowImages(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("images=%d", n), func(b *testing.B) {
			w := newImageWorld(b, 0, 0)
			var refs []string
			for i := range n {
				img, _ := imagetest.Alpine("3.22.1", map[string]string{"pkg": fmt.Sprint(i)}, "1000", "linux/amd64")
				w.reg.Push(fmt.Sprintf("acme/slow%d:1", i), img)
				refs = append(refs, fmt.Sprintf("%s/acme/slow%d:1", w.reg.Host(), i))
			}
			var yaml strings.Builder
			for i, ref := range refs {
				fmt.Fprintf(&yaml, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: shop}\nspec:\n  containers:\n  - {name: c, image: %s}\n", i, ref)
			}
			manifests := write(b, w.dir, "slow.yaml", yaml.String())
			w.reg.Inject("/v2/acme/slow", imagetest.Fault{Delay: 200 * time.Millisecond})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				args := []string{"check", "--config", w.policy, "--skip-db-update", "--trivy-cache-dir", w.trivyDir, "--no-cache", manifests}
				kubegate(b, "", args...)
			}
		})
	}
}

// TestImageFindingsInCIReports: image findings reach the CI formats at the image's line.
func TestImageFindingsInCIReports(t *testing.T) {
	noGitHub(t)
	w := newImageWorld(t, 0, 0)
	sarif, gitlab := filepath.Join(w.dir, "k.sarif"), filepath.Join(w.dir, "gl.json")
	code, out, errOut := kubegate(t, "", w.args("check", "--output", "sarif="+sarif, "--output", "gitlab="+gitlab)...)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	s, _ := os.ReadFile(sarif)
	if !strings.Contains(string(s), `"ruleId": "image-vulnerable"`) || !strings.Contains(string(s), `"startLine": 22`) {
		t.Errorf("SARIF lacks the image finding:\n%.2000s", s)
	}
	g, _ := os.ReadFile(gitlab)
	if !strings.Contains(string(g), `"check_name": "image-runs-as-root"`) {
		t.Errorf("Code Quality lacks the image finding:\n%s", g)
	}
}
