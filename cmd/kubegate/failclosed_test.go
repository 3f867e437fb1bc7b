package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aquasecurity/trivy/pkg/clock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	imagepolicy "k8s.io/api/imagepolicy/v1alpha1"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/gate/webhook"
	"github.com/kubegate/kubegate/images/cosign"
	"github.com/kubegate/kubegate/images/imagetest"
	"github.com/kubegate/kubegate/images/trivy"
)

// failWorld is a loopback registry with two clean images, both signed and with signed
// provenance: web the cosign v3 way (Sigstore bundles as referrers), classic the classic
// way (.sig and .att tags); a policy that requires both; manifests using one image; a DB.
type failWorld struct {
	reg                                  *imagetest.Registry
	dir, policy, trivyDir, key, otherKey string
	web, classic                         string
	webPinned                            string // web by digest
}

const slsaV02 = "https://slsa.dev/provenance/v0.2"

func newFailWorld(t *testing.T) *failWorld {
	t.Helper()
	w := &failWorld{reg: imagetest.NewRegistry(), dir: t.TempDir()}
	t.Cleanup(w.reg.Close)
	signer, _ := imagetest.NewSigner()
	other, _ := imagetest.NewSigner()
	pub, _ := signer.PublicKeyPEM()
	otherPub, _ := other.PublicKeyPEM()
	w.key, w.otherKey = write(t, w.dir, "cosign.pub", string(pub)), write(t, w.dir, "other.pub", string(otherPub))
	h := w.reg.Host()
	for _, name := range []string{"web", "classic"} {
		img, _ := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.15-1~deb12u1", name: "1"}, "10001", "linux/amd64")
		d, err := w.reg.Push("acme/"+name+":1", img)
		if err != nil {
			t.Fatal(err)
		}
		if name == "web" {
			w.webPinned = d.String()
			err = signer.Attest(w.reg, d, cosign.SignPredicate, nil)
			if err == nil {
				err = signer.Attest(w.reg, d, slsaV02, map[string]any{"builder": map[string]any{"id": "ci"}})
			}
		} else {
			err = signer.SignClassic(w.reg, d)
			if err == nil {
				err = signer.AttestClassic(w.reg, d, slsaV02, map[string]any{"builder": map[string]any{"id": "ci"}})
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	w.web, w.classic = h+"/acme/web:1", h+"/acme/classic:1"
	w.trivyDir = filepath.Join(w.dir, "trivy")
	if err := trivy.WriteDB(w.trivyDir, []trivy.Advisory{{Source: "debian 12", Package: "openssl", ID: "CVE-2026-4001", Fixed: "3.0.15-1~deb12u1", Severity: "CRITICAL"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.writePolicy(t, "slsaprovenance", "high")
	return w
}

// writePolicy requires a signature by cosign.pub and an attestation of attType of both
// images; vulnerabilities fail at failOn.
func (w *failWorld) writePolicy(t *testing.T, attType, failOn string) {
	w.policy = write(t, w.dir, "kubegate.yaml", fmt.Sprintf(`apiVersion: kubegate.dev/v1alpha1
kind: Policy
images:
  insecureRegistries: [%[1]q]
  rules:
    - match: ["%[1]s/acme/*"]
      signature: {keys: [cosign.pub], ignoreTlog: true}
      attestations: [{type: %[2]s}]
      vulnerabilities: {failOn: %[3]s}
rules:
  disable: [image-registry-insecure, image-pull-policy, network-policy-default-deny, service-account-token-automount, container-resources]
`, w.reg.Host(), attType, failOn))
}

func (w *failWorld) manifests(t *testing.T, image string) string {
	return write(t, w.dir, "app.yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: c
        image: %s
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`, image))
}

func (w *failWorld) check(t *testing.T, image string) (int, string) {
	t.Helper()
	code, out, errOut := kubegate(t, "", "check", "--config", w.policy, "--fail-on", "critical", "--skip-db-update",
		"--trivy-cache-dir", w.trivyDir, "--verdict-cache-dir", filepath.Join(w.dir, "cache"), "--registry-timeout", "500ms",
		w.manifests(t, image))
	return code, out + errOut
}

// review asks the webhook's reviewer, wired as `webhook serve` wires it.
func (w *failWorld) review(t *testing.T, image string) (bool, string) {
	t.Helper()
	p, err := policy.Load(w.policy, rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	p.FailOn = finding.Critical // as check runs
	images := imageFlags{skipDBUpdate: true, trivyCacheDir: w.trivyDir, cacheDir: filepath.Join(w.dir, "cache"), parallel: 4, regTimeout: 500 * time.Millisecond}
	srv, _, closeScanner, err := webhookServer(p, &images, 20*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeScanner()
	return reviewWith(srv.Reviewer, image)
}

func reviewWith(r *webhook.Reviewer, image string) (bool, string) {
	d := r.Review(context.Background(), imagepolicy.ImageReviewSpec{Namespace: "shop",
		Containers: []imagepolicy.ImageReviewContainerSpec{{Image: image}}})
	return d.Allowed, d.Reason
}

// TestWebhookFollowsKeyRevocation: a running webhook reads the keys at every review, so a
// key replaced under the same path (a revocation) denies the images it no longer signs,
// even those whose verdict was cached, and without a restart.
func TestWebhookFollowsKeyRevocation(t *testing.T) {
	w := newFailWorld(t)
	p, err := policy.Load(w.policy, rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	images := imageFlags{skipDBUpdate: true, trivyCacheDir: w.trivyDir, cacheDir: filepath.Join(w.dir, "cache"), parallel: 4, regTimeout: time.Second}
	srv, _, closeScanner, err := webhookServer(p, &images, 20*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeScanner()
	for range 2 { // checked, then from the cache
		if allowed, reason := reviewWith(srv.Reviewer, w.web); !allowed {
			t.Fatalf("before the revocation: %s", reason)
		}
	}
	other, _ := os.ReadFile(w.otherKey)
	os.WriteFile(w.key, other, 0o644)
	for range 2 {
		if allowed, reason := reviewWith(srv.Reviewer, w.web); allowed || !strings.Contains(reason, "image-unverified: image "+w.web+"@sha256:") {
			t.Fatalf("after the revocation: allowed %v, %s", allowed, reason)
		}
	}
}

// TestFailClosedMatrix: every way the registry, the signatures or the vulnerability DB can
// fail, under --fail-on critical, fails `kubegate check` (exit 1, the rule, the cause) and
// is denied by the webhook with the same reason. Nothing that could not be checked passes,
// and nothing stale is trusted.
func TestFailClosedMatrix(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, w *failWorld) (image string)
		code  int
		want  string // "rule: message part"; "" for a pass
	}{
		{"signed, attested, clean: bundle format", func(t *testing.T, w *failWorld) string { return w.web }, 0, ""},
		{"signed, attested, clean: classic format", func(t *testing.T, w *failWorld) string { return w.classic }, 0, ""},
		{"registry 5xx", func(t *testing.T, w *failWorld) string {
			w.reg.Inject("/v2/acme/web/manifests/", imagetest.Fault{Status: 503})
			return w.web
		}, 1, "image-unresolved: the registry failed (503 Service Unavailable"},
		{"registry 401", func(t *testing.T, w *failWorld) string {
			w.reg.Inject("/v2/acme/web/manifests/", imagetest.Fault{Status: 401})
			return w.web
		}, 1, "image-unresolved: the registry refused access (401 Unauthorized"},
		{"registry slow", func(t *testing.T, w *failWorld) string {
			w.reg.Inject("/v2/acme/web/manifests/", imagetest.Fault{Delay: 3 * time.Second})
			return w.web
		}, 1, "image-unresolved: the registry did not answer in time"},
		{"connection reset", func(t *testing.T, w *failWorld) string {
			w.reg.Inject("/v2/acme/web/manifests/", imagetest.Fault{Reset: true})
			return w.web
		}, 1, "image-unresolved: could not be resolved"},
		{"truncated blob", func(t *testing.T, w *failWorld) string {
			w.reg.Inject("/v2/acme/web/blobs/", imagetest.Fault{Truncate: true})
			return w.web
		}, 1, "image-unresolved: reading the config of sha256:"},
		{"content does not match its digest", func(t *testing.T, w *failWorld) string {
			w.reg.Inject("/v2/acme/web/manifests/sha256:", imagetest.Fault{Corrupt: true})
			return w.webPinned
		}, 1, "image-unresolved: the registry served content that does not match its digest"},
		{"unsigned", func(t *testing.T, w *failWorld) string {
			img, _ := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.15-1~deb12u1"}, "10001", "linux/amd64")
			w.reg.Push("acme/web:2", img)
			return w.reg.Host() + "/acme/web:2"
		}, 1, "image-unverified: no signatures found"},
		{"tampered signature", func(t *testing.T, w *failWorld) string {
			w.reg.Inject(".sig", imagetest.Fault{Corrupt: true})
			return w.classic
		}, 1, "image-unverified: is not verified"},
		{"tampered bundle", func(t *testing.T, w *failWorld) string {
			img, _ := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.15-1~deb12u1"}, "10001", "linux/amd64")
			d, _ := w.reg.Push("acme/web:3", img)
			signer, _ := imagetest.NewSigner()
			pub, _ := signer.PublicKeyPEM()
			os.WriteFile(w.key, pub, 0o644)
			if err := signer.AttestTampered(w.reg, d, cosign.SignPredicate); err != nil {
				t.Fatal(err)
			}
			signer.Attest(w.reg, d, slsaV02, nil)
			return w.reg.Host() + "/acme/web:3"
		}, 1, "image-unverified: no valid signature (2 Sigstore bundle(s) checked)"},
		{"tampered referrers", func(t *testing.T, w *failWorld) string {
			w.reg.Inject("/v2/acme/web/referrers/", imagetest.Fault{Corrupt: true})
			return w.web
		}, 1, "image-unverified: is not verified"},
		{"wrong key", func(t *testing.T, w *failWorld) string {
			data, _ := os.ReadFile(w.policy)
			os.WriteFile(w.policy, []byte(strings.Replace(string(data), "keys: [cosign.pub]", "keys: [other.pub]", 1)), 0o644)
			return w.web
		}, 1, "image-unverified: no valid signature (2 Sigstore bundle(s) checked): key other.pub"},
		{"key swapped after a pass was cached", func(t *testing.T, w *failWorld) string {
			if code, out := w.check(t, w.web); code != 0 {
				t.Fatalf("before the swap: exit %d\n%s", code, out)
			}
			other, _ := os.ReadFile(w.otherKey)
			os.WriteFile(w.key, other, 0o644)
			return w.web
		}, 1, "image-unverified: no valid signature (2 Sigstore bundle(s) checked): key cosign.pub"},
		{"attestation missing: bundle format", func(t *testing.T, w *failWorld) string {
			w.writePolicy(t, "cyclonedx", "high")
			return w.web
		}, 1, "image-unverified: no signed cyclonedx attestation"},
		{"attestation missing: classic format", func(t *testing.T, w *failWorld) string {
			w.writePolicy(t, "cyclonedx", "high")
			return w.classic
		}, 1, "image-unverified: no signed cyclonedx attestation"},
		{"attestation of another type: predicate URI", func(t *testing.T, w *failWorld) string {
			w.writePolicy(t, "https://example.com/other/v1", "high")
			return w.classic
		}, 1, "image-unverified: no signed https://example.com/other/v1 attestation"},
		{"DB missing", func(t *testing.T, w *failWorld) string {
			os.RemoveAll(w.trivyDir)
			return w.web
		}, 1, "image-not-scanned: could not be scanned: vulnerability DB in"},
		{"DB corrupt", func(t *testing.T, w *failWorld) string {
			os.WriteFile(filepath.Join(w.trivyDir, "db", "trivy.db"), []byte("not a bolt file"), 0o644)
			return w.web
		}, 1, "image-not-scanned: could not be scanned"},
		{"DB stale", func(t *testing.T, w *failWorld) string {
			os.RemoveAll(w.trivyDir)
			trivy.WriteDB(w.trivyDir, nil, time.Now().Add(-30*24*time.Hour))
			return w.web
		}, 1, "image-vulnerability-db-stale: older than 7 days"},
		{"no DB needed when nothing gates on vulnerabilities", func(t *testing.T, w *failWorld) string {
			os.RemoveAll(w.trivyDir)
			w.writePolicy(t, "slsaprovenance", "off")
			return w.web
		}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFailWorld(t)
			image := tc.setup(t, w)
			code, out := w.check(t, image)
			rule, msg, _ := strings.Cut(tc.want, ": ")
			if code != tc.code || (tc.want != "" && !hasFinding(out, rule, msg)) {
				t.Fatalf("check: exit %d, want %d with %q\n%s", code, tc.code, tc.want, out)
			}
			if tc.code == 1 && !regexp.MustCompile(`, (1 on an image not checked \(it fails|\d+ on images not checked \(these fail) at any failOn\) — FAIL \(failOn: critical\)`).MatchString(out) {
				t.Errorf("the summary does not say why the run fails under failOn critical:\n%s", out)
			}
			if rule == "image-unresolved" { // kubegate images says why, not only which rule
				_, out, _ := kubegate(t, "", "images", "--config", w.policy, "--skip-db-update", "--trivy-cache-dir", w.trivyDir,
					"--no-cache", "--registry-timeout", "500ms", w.manifests(t, image))
				if !hasFinding(out, image+": image-unresolved: image "+image+" could not be resolved", msg) {
					t.Errorf("kubegate images does not say why:\n%s", out)
				}
			}
			allowed, reason := w.review(t, image)
			if allowed != (tc.code == 0) || (tc.want != "" && !strings.Contains(reason, rule)) {
				t.Fatalf("webhook: allowed %v, reason %q; want allowed %v with %s", allowed, reason, tc.code == 0, rule)
			}
		})
	}
}

// hasFinding: a line of the text report names the rule and holds msg.
func hasFinding(out, rule, msg string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, rule) && strings.Contains(l, msg) {
			return true
		}
	}
	return false
}

// TestFailClosedPolicyErrors: keys that cannot be used are policy errors (exit 2, the
// policy's file:line), never a panic and never a finding on every image.
func TestFailClosedPolicyErrors(t *testing.T) {
	w := newFailWorld(t)
	for _, tc := range []struct{ keys, want string }{
		{`[""]`, `kubegate.yaml:7: key "": empty key reference`},
		{`[missing.pub]`, `kubegate.yaml:7: key "missing.pub": reading the public key ` + filepath.Join(w.dir, "missing.pub") + `: no such file or directory`},
		{`[app.yaml]`, `kubegate.yaml:7: key "app.yaml": not a PEM public key`},
	} {
		data, _ := os.ReadFile(w.policy)
		os.WriteFile(w.policy, []byte(strings.Replace(string(data), "keys: [cosign.pub]", "keys: "+tc.keys, 1)), 0o644)
		code, out := w.check(t, w.web)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("keys %s: exit %d, want 2 with %q\n%s", tc.keys, code, tc.want, out)
		}
		w.writePolicy(t, "slsaprovenance", "high")
	}
	// env://VAR keys are the CI's secrets: read when images are checked, not by --offline
	// runs (a developer's pre-push hook), which check no image.
	t.Setenv("KUBEGATE_TEST_UNSET_KEY", "")
	data, _ := os.ReadFile(w.policy)
	os.WriteFile(w.policy, []byte(strings.Replace(string(data), "keys: [cosign.pub]", "keys: [env://KUBEGATE_TEST_UNSET_KEY]", 1)), 0o644)
	if code, out := w.check(t, w.web); code != 2 || !strings.Contains(out, `kubegate.yaml:7: key "env://KUBEGATE_TEST_UNSET_KEY": environment variable KUBEGATE_TEST_UNSET_KEY is empty`) {
		t.Errorf("unset key variable: exit %d\n%s", code, out)
	}
	if code, out, errOut := kubegate(t, "", "check", "--config", w.policy, "--offline", w.manifests(t, w.web)); code != 0 {
		t.Errorf("--offline with an unset key variable: exit %d\n%s%s", code, out, errOut)
	}
}

// TestBaselineNeverAcceptsUncheckedImages: --write-baseline records what a check found,
// never an image that could not be checked (a registry down the day the baseline was
// written would otherwise pass that image forever).
func TestBaselineNeverAcceptsUncheckedImages(t *testing.T) {
	w := newFailWorld(t)
	w.reg.Inject("/v2/acme/web/manifests/", imagetest.Fault{Status: 401})
	baseline := filepath.Join(w.dir, "baseline.yaml")
	args := []string{"check", "--config", w.policy, "--skip-db-update", "--trivy-cache-dir", w.trivyDir, "--no-cache", w.manifests(t, w.web)}
	code, out, _ := kubegate(t, "", append(args, "--write-baseline", baseline)...)
	if code != 1 || !strings.Contains(out, "baseline: 1 findings of images that could not be checked are never baselined") {
		t.Fatalf("--write-baseline: exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(baseline); strings.Contains(string(data), "image-unresolved") {
		t.Fatalf("the baseline records an unchecked image:\n%s", data)
	}
	if code, out, _ := kubegate(t, "", append(args, "--baseline", baseline)...); code != 1 || !strings.Contains(out, "image-unresolved") {
		t.Fatalf("--baseline: exit %d\n%s", code, out)
	}
}

// TestWebhookRefreshesTheDB: the webhook's refresh loop takes a newer DB when one is due,
// counts failed refreshes and keeps the DB it has meanwhile.
func TestWebhookRefreshesTheDB(t *testing.T) {
	reg := imagetest.NewRegistry()
	defer reg.Close()
	// Both DBs are built first: building one goes through Trivy's process-global DB handle,
	// which the open scanner owns.
	first, second := time.Now().UTC().Add(-48*time.Hour).Truncate(time.Second), time.Now().UTC().Truncate(time.Second)
	var arts []v1.Image
	for _, updated := range []time.Time{first, second} {
		art, err := trivy.DBArtifact(nil, updated)
		if err != nil {
			t.Fatal(err)
		}
		arts = append(arts, art)
	}
	push := func(art v1.Image) {
		if _, err := reg.Push("aquasec/trivy-db:2", art); err != nil {
			t.Fatal(err)
		}
	}
	push(arts[0])
	s, err := trivy.Open(context.Background(), trivy.Options{CacheDir: t.TempDir(), DBRepositories: []string{reg.Host() + "/aquasec/trivy-db:2"}, InsecureDBRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := webhook.NewMetrics()
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }() // the loop is done with the process-global DB before the next test
	// Published before the loop starts: no refresh can take the first DB again.
	push(arts[1])
	reg.Inject("/v2/aquasec/trivy-db/", imagetest.Fault{Status: 500})
	// Trivy's schedule reads the clock from the context: two hours on, the DB is due.
	go func() {
		defer close(stopped)
		refreshDB(clock.With(ctx, time.Now().Add(2*time.Hour)), s, 10*time.Millisecond, slog.New(slog.NewJSONHandler(&logs, nil)), m)
	}()
	waitFor(t, "a failed refresh", func() bool { return testutil.ToFloat64(m.DBRefreshFailures) >= 1 })
	if !s.DB().UpdatedAt.Equal(first) || !strings.Contains(logs.String(), "vulnerability DB refresh failed") {
		t.Fatalf("after a failed refresh: DB %+v\n%s", s.DB(), logs.String())
	}
	reg.Clear()
	waitFor(t, "the new DB", func() bool { return s.DB().UpdatedAt.Equal(second) })
	waitFor(t, "the log line", func() bool { return strings.Contains(logs.String(), `"msg":"vulnerability DB refreshed"`) })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// syncBuffer is a log destination read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSignatureOnlyWebhookNeedsNoDB: when no rule gates on vulnerabilities, the webhook is
// ready without a vulnerability DB (air-gapped signature gating) and still verifies.
func TestSignatureOnlyWebhookNeedsNoDB(t *testing.T) {
	w := newFailWorld(t)
	os.RemoveAll(w.trivyDir)
	w.writePolicy(t, "slsaprovenance", "off")
	data, _ := os.ReadFile(w.policy)
	os.WriteFile(w.policy, []byte(strings.Replace(string(data), "  rules:\n", "  defaultRule: {vulnerabilities: {failOn: off}}\n  rules:\n", 1)), 0o644)
	p, err := policy.Load(w.policy, rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	images := imageFlags{trivyCacheDir: w.trivyDir, cacheDir: filepath.Join(w.dir, "cache"), parallel: 4, regTimeout: time.Second}
	srv, _, closeScanner, err := webhookServer(p, &images, 20*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeScanner()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Fatalf("/readyz without a DB under a signature-only policy: %d %s", rec.Code, rec.Body)
	}
	if allowed, reason := reviewWith(srv.Reviewer, w.web); !allowed {
		t.Fatalf("signed image: %s", reason)
	}
	img, _ := imagetest.Debian("12.7", nil, "10001", "linux/amd64")
	w.reg.Push("acme/web:2", img)
	if allowed, reason := reviewWith(srv.Reviewer, w.reg.Host()+"/acme/web:2"); allowed || !strings.Contains(reason, "image-unverified") {
		t.Fatalf("unsigned image: allowed %v, %s", allowed, reason)
	}
}
