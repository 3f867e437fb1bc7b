package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sigcosign "github.com/sigstore/cosign/v3/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	imagepolicy "k8s.io/api/imagepolicy/v1alpha1"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/gate/webhook"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/imagetest"
)

// verdictWorld is the image world (web: signed, scanned clean; agent: vulnerable) with a
// CI key pair for verdict attestations and manifests naming web only and both.
type verdictWorld struct {
	*imageWorld
	webOnly, both string
}

const verdictPolicy = `apiVersion: kubegate.dev/v1alpha1
kind: Policy
images:
  insecureRegistries: [%[1]q]
  rules:
    - match: ["%[1]s/acme/web", "%[1]s/acme/tampered"]
      signature: {keys: [cosign.pub], ignoreTlog: true}
      vulnerabilities: {failOn: %[2]s}
  defaultRule: {vulnerabilities: {failOn: high}}
  verdicts:
    trust: {keys: [%[3]s], ignoreTlog: true}
    maxAge: %[4]s
rules:
  disable: [image-registry-insecure, image-pull-policy, network-policy-default-deny, service-account-token-automount, container-resources]
`

func newVerdictWorld(t testing.TB, filler int) *verdictWorld {
	t.Helper()
	for _, v := range []string{"GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_WORKSPACE", "CI_PROJECT_DIR"} {
		t.Setenv(v, "")
	}
	w := &verdictWorld{imageWorld: newImageWorld(t, 0, filler)}
	// The CI's key pair, as cosign generate-key-pair writes it, and a key that signed nothing.
	t.Setenv("COSIGN_PASSWORD", "s3cret")
	keys, err := sigcosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("s3cret"), nil })
	if err != nil {
		t.Fatal(err)
	}
	write(t, w.dir, "ci.key", string(keys.PrivateBytes))
	write(t, w.dir, "ci.pub", string(keys.PublicBytes))
	other, _ := sigcosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("x"), nil })
	write(t, w.dir, "other.pub", string(other.PublicBytes))
	pod := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: shop}\nspec:\n  template:\n    spec:\n" +
		"      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}\n      containers:\n      - name: c\n        image: %s\n" +
		"        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}\n"
	h := w.reg.Host()
	w.webOnly = write(t, w.dir, "web.yaml", fmt.Sprintf(pod, "web", h+"/acme/web:1"))
	w.both = write(t, w.dir, "both.yaml", fmt.Sprintf(pod, "web", h+"/acme/web:1")+"---\n"+fmt.Sprintf(pod, "agent", h+"/acme/agent:1"))
	return w
}

// withoutVerdicts is the policy pol without images.verdicts: a runner that checks itself.
func (w *verdictWorld) withoutVerdicts(t testing.TB, pol string) string {
	return write(t, w.dir, "no-verdicts.yaml", strings.Split(readFile(t, pol), "  verdicts:")[0]+
		"rules:\n  disable: [image-registry-insecure, image-pull-policy, network-policy-default-deny, service-account-token-automount, container-resources]\n")
}

// attest is the first runner: it checks web with the DB and attests its verdict.
func (w *verdictWorld) attest(t testing.TB, pol string) {
	t.Helper()
	if code, out := w.check(t, pol, w.trivyDir, w.webOnly, "--attest-key", filepath.Join(w.dir, "ci.key")); code != 0 || !strings.Contains(out, "verdict attestations: 1 written") {
		t.Fatalf("attesting run: exit %d\n%s", code, out)
	}
}

// policyFile writes a policy: the web rule's failOn, the trusted verdict key, maxAge.
func (w *verdictWorld) policyFile(t testing.TB, failOn, key, maxAge string) string {
	return write(t, w.dir, fmt.Sprintf("kubegate-%s-%s-%s.yaml", failOn, strings.TrimSuffix(key, ".pub"), maxAge),
		fmt.Sprintf(verdictPolicy, w.reg.Host(), failOn, key, maxAge))
}

// check runs check with a fresh verdict cache (unless extra names one); trivyDir "" is an
// empty Trivy cache (no DB at all).
func (w *verdictWorld) check(t testing.TB, pol, trivyDir, manifests string, extra ...string) (int, string) {
	t.Helper()
	if trivyDir == "" {
		trivyDir = t.TempDir()
	}
	args := append([]string{"check", "--config", pol, "--skip-db-update", "--trivy-cache-dir", trivyDir,
		"--verdict-cache-dir", t.TempDir(), "--quiet"}, extra...)
	code, out, errOut := kubegate(t, "", append(args, manifests)...)
	return code, out + errOut
}

func TestVerdictAttestations(t *testing.T) {
	w := newVerdictWorld(t, 0)
	h := w.reg.Host()
	pol := w.policyFile(t, "high", "ci.pub", "24h")

	// Runner 1 scans and attests what passed (web), not what failed (agent).
	code, out := w.check(t, pol, w.trivyDir, w.both, "--attest-key", filepath.Join(w.dir, "ci.key"))
	if code != 1 || !strings.Contains(out, "note: verdict attestations: 1 written") || !strings.Contains(out, "image-vulnerable") {
		t.Fatalf("runner 1: exit %d\n%s", code, out)
	}

	// A verdict from the verdict cache is not attested again: one attestation per image and
	// DB, not per run.
	cacheDir, noVerdicts := t.TempDir(), w.withoutVerdicts(t, pol)
	for i, want := range []string{"verdict attestations: 1 written", "verdict attestations: 0 written (1 from the verdict cache, attested when they were made)"} {
		if code, out := w.check(t, noVerdicts, w.trivyDir, w.webOnly, "--attest-key", filepath.Join(w.dir, "ci.key"), "--verdict-cache-dir", cacheDir); code != 0 || !strings.Contains(out, want) {
			t.Errorf("run %d with one verdict cache: exit %d\n%s", i+1, code, out)
		}
	}

	// What kubegate wrote is what cosign verify-attestation --type accepts (cosign's Go API).
	pub, _ := os.ReadFile(filepath.Join(w.dir, "ci.pub"))
	pk, err := cryptoutils.UnmarshalPEMToPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadVerifier(pk, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	atts, _, err := sigcosign.VerifyImageAttestations(context.Background(), w.webDigest, &sigcosign.CheckOpts{
		SigVerifier: sv, IgnoreTlog: true, IgnoreSCT: true, NewBundleFormat: true, ClaimVerifier: sigcosign.IntotoSubjectClaimVerifier,
		RegistryClientOpts: []ociremote.Option{ociremote.WithRemoteOptions(w.reg.Remote()...)},
	})
	if err != nil {
		t.Fatalf("cosign does not verify the verdict attestation: %v", err)
	}
	found := false
	for _, a := range atts {
		p, _ := a.Payload()
		found = found || strings.Contains(string(p), `"payloadType":"application/vnd.in-toto+json"`)
	}
	if !found {
		t.Errorf("no in-toto attestation among %d verified", len(atts))
	}
	// And the cosign CLI (make test installs it).
	cli := exec.Command(cosignCLI(t), "verify-attestation", "--key", filepath.Join(w.dir, "ci.pub"), "--insecure-ignore-tlog",
		"--allow-http-registry", "--type", images.VerdictPredicateType, w.webDigest.String())
	cli.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0")
	envelopes, err := cli.Output() // the verified DSSE envelopes, one per line
	verified := 0
	for _, line := range bytes.Split(bytes.TrimSpace(envelopes), []byte("\n")) {
		var env struct{ Payload []byte }
		if json.Unmarshal(line, &env) == nil && bytes.Contains(env.Payload, []byte(`"predicateType":"`+images.VerdictPredicateType+`"`)) {
			verified++
		}
	}
	if err != nil || verified != 2 { // runner 1's, and the first run's above
		t.Errorf("cosign verify-attestation: %v, %d verdicts\n%s", err, verified, envelopes)
	}

	// Runner 2, an empty cache and no DB at all: web passes from the verdict.
	code, out = w.check(t, pol, "", w.webOnly)
	if code != 0 || !strings.Contains(out, "images: 1 checked (0 from cache, 1 from verdict attestations)") ||
		!strings.Contains(out, "images: "+h+"/acme/web:1: verified verdict from key ci.pub, 0s old") {
		t.Fatalf("runner 2: exit %d\n%s", code, out)
	}
	_, out = w.check(t, pol, "", w.webOnly, "--format", "json")
	if r := jsonReport(t, out[:strings.LastIndex(out, "}")+1]); len(r.Images) != 1 || !strings.HasPrefix(r.Images[0].Verdict, "verified verdict from key ci.pub") {
		t.Errorf("JSON images: %+v", r.Images)
	}
	// …and agent, with no verdict, is not passed on it: no DB, not scanned, fails closed.
	code, out = w.check(t, pol, "", w.both)
	if code != 1 || !strings.Contains(out, "image-not-scanned") || !strings.Contains(out, "no verdict attestation of "+h+"/acme/agent:1@sha256:") {
		t.Errorf("agent without a verdict: exit %d\n%s", code, out)
	}

	// Any doubt checks in full, which without a DB fails closed.
	for _, tc := range []struct{ name, pol, why string }{
		{"another policy", w.policyFile(t, "critical", "ci.pub", "24h"), "made under another image policy"},
		{"an untrusted key", w.policyFile(t, "high", "other.pub", "24h"), "none signed by a trusted key or identity"},
		{"older than maxAge", w.policyFile(t, "high", "ci.pub", "1ns"), "older than maxAge 1ns"},
	} {
		code, out := w.check(t, tc.pol, "", w.webOnly)
		if code != 1 || !strings.Contains(out, "image-not-scanned") || !strings.Contains(out, tc.why) || strings.Contains(out, "verified verdict from") {
			t.Errorf("%s: exit %d\n%s", tc.name, code, out)
		}
	}

	// A verdict whose signature does not verify (one bit flipped) is not used.
	tampered, _ := imagetest.Debian("12.7", map[string]string{"bash": "5.2.15-2"}, "10001", "linux/amd64")
	td, err := w.reg.Push("acme/tampered:1", tampered)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := imagetest.NewSigner()
	tpub, _ := signer.PublicKeyPEM()
	write(t, w.dir, "tamper.pub", string(tpub))
	if err := signer.AttestTampered(w.reg, td, images.VerdictPredicateType); err != nil {
		t.Fatal(err)
	}
	manifest := write(t, w.dir, "tampered.yaml", strings.ReplaceAll(readFile(t, w.webOnly), "acme/web:1", "acme/tampered:1"))
	code, out = w.check(t, w.policyFile(t, "high", "tamper.pub", "24h"), "", manifest)
	if code != 1 || strings.Contains(out, "verified verdict from") || !strings.Contains(out, "image-not-scanned") {
		t.Errorf("tampered verdict: exit %d\n%s", code, out)
	}
}

// The webhook answers from the verdict with no DB at all, and denies without one.
func TestWebhookUsesVerdicts(t *testing.T) {
	w := newVerdictWorld(t, 0)
	h := w.reg.Host()
	pol := w.policyFile(t, "high", "ci.pub", "24h")
	w.attest(t, pol)
	p, err := policy.Load(pol, rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	flags := &imageFlags{skipDBUpdate: true, trivyCacheDir: t.TempDir(), cacheDir: t.TempDir(), regTimeout: 10 * time.Second}
	srv, _, closeScanner, err := webhookServer(p, flags, 20*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeScanner()
	review := func(image string) (bool, string) {
		d := srv.Reviewer.Review(context.Background(), imagepolicy.ImageReviewSpec{Namespace: "shop",
			Containers: []imagepolicy.ImageReviewContainerSpec{{Image: image}}})
		return d.Allowed, d.Reason
	}
	if ok, reason := review(h + "/acme/web:1"); !ok {
		t.Errorf("web with a verdict and no DB: denied: %s", reason)
	}
	if ok, reason := review(h + "/acme/agent:1"); ok || !strings.Contains(reason, "image-not-scanned") {
		t.Errorf("agent without a verdict and no DB: allowed %v, %s", ok, reason)
	}
	// Ready without a DB: the API server must reach it to admit attested images.
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Errorf("/readyz with trusted verdicts and no DB: %d %s", rec.Code, rec.Body)
	}
}

// BenchmarkVerdictReuse: a second CI runner (empty caches) checking a 30 MB image: in
// full (download the layers, scan them) against using the first runner's verdict
// attestation (one referrers lookup, one signature verification, no DB at all). Compare
// the two ns/op.
func BenchmarkVerdictReuse(b *testing.B) {
	w := newVerdictWorld(b, 30<<20)
	pol := w.policyFile(b, "high", "ci.pub", "24h")
	w.attest(b, pol)
	noVerdicts := w.withoutVerdicts(b, pol)
	b.Run("full-check", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			os.RemoveAll(filepath.Join(w.trivyDir, "kubegate-layers")) // a runner with the DB, nothing else
			b.StartTimer()
			if code, out := w.check(b, noVerdicts, w.trivyDir, w.webOnly); code != 0 {
				b.Fatalf("exit %d\n%s", code, out)
			}
		}
	})
	b.Run("verdict", func(b *testing.B) {
		for b.Loop() {
			if code, out := w.check(b, pol, "", w.webOnly); code != 0 || !strings.Contains(out, "verified verdict from") {
				b.Fatalf("exit %d\n%s", code, out)
			}
		}
	})
	// The rest of the check (policy, rendering, rules, report), for what the image stage
	// itself takes: subtract it from the two above.
	b.Run("offline", func(b *testing.B) {
		for b.Loop() {
			if code, out := w.check(b, pol, "", w.webOnly, "--offline"); code != 0 {
				b.Fatalf("exit %d\n%s", code, out)
			}
		}
	})
}

// BenchmarkWebhookVerdict: the webhook's review of an image: from its verdict
// attestation with no DB, the first time (a webhook that has not seen it: one referrers
// lookup, one signature verification) and later (the verdict remembered), against a full
// check with the DB (no verdict cache, layers read again); p50 and p99 of the reviews.
func BenchmarkWebhookVerdict(b *testing.B) {
	w := newVerdictWorld(b, 30<<20)
	pol := w.policyFile(b, "high", "ci.pub", "24h")
	w.attest(b, pol)
	server := func(b *testing.B, verdicts bool) (*webhook.Server, func()) {
		p, err := policy.Load(pol, rules.Catalogue())
		if err != nil {
			b.Fatal(err)
		}
		trivyDir := b.TempDir()
		if !verdicts {
			p.Images.Verdicts, trivyDir = nil, w.trivyDir
		}
		flags := &imageFlags{skipDBUpdate: true, trivyCacheDir: trivyDir, noCache: true, regTimeout: 10 * time.Second}
		srv, _, closeScanner, err := webhookServer(p, flags, 20*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		return srv, closeScanner
	}
	for _, tc := range []struct {
		name     string
		verdicts bool
		fresh    bool // a new webhook for every review
	}{{"verdict-first", true, true}, {"verdict-remembered", true, false}, {"full-check", false, false}} {
		b.Run(tc.name, func(b *testing.B) {
			srv, closeScanner := server(b, tc.verdicts)
			defer func() { closeScanner() }()
			var took []time.Duration
			for b.Loop() {
				b.StopTimer()
				if tc.fresh {
					closeScanner()
					srv, closeScanner = server(b, tc.verdicts)
				}
				os.RemoveAll(filepath.Join(w.trivyDir, "kubegate-layers"))
				b.StartTimer()
				start := time.Now()
				d := srv.Reviewer.Review(context.Background(), imagepolicy.ImageReviewSpec{Namespace: "shop",
					Containers: []imagepolicy.ImageReviewContainerSpec{{Image: w.reg.Host() + "/acme/web:1"}}})
				took = append(took, time.Since(start))
				if !d.Allowed {
					b.Fatalf("denied: %s", d.Reason)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
