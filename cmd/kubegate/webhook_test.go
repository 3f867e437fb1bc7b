package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	imagepolicy "k8s.io/api/imagepolicy/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	apiwebhook "k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/rest"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/gate/webhook"
	"github.com/kubegate/kubegate/images/imagetest"
	"github.com/kubegate/kubegate/internal/testpki"
)

// pki is a CA, a serving certificate for 127.0.0.1 and a client certificate (the API
// server's), as files.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t testing.TB, dir string) pki {
	t.Helper()
	ca := testpki.NewCA(t)
	p := pki{ca: write(t, dir, "ca.crt", string(ca.CertPEM))}
	for _, leaf := range []struct {
		name      string
		cert, key *string
	}{{"webhook", &p.serverCert, &p.serverKey}, {"kube-apiserver", &p.clientCert, &p.clientKey}} {
		cert, key := ca.Issue(t, leaf.name)
		*leaf.cert, *leaf.key = write(t, dir, leaf.name+".crt", string(cert)), write(t, dir, leaf.name+".key", string(key))
	}
	return p
}

// webhookWorld is the image world with a policy that allows only its registries, and a
// second registry that is down.
func webhookWorld(t testing.TB) (w *imageWorld, downHost string) {
	t.Helper()
	w = newImageWorld(t, 0, 0)
	unsigned, _ := imagetest.Debian("12.7", map[string]string{"openssl": "3.0.15-1~deb12u2"}, "10001", "linux/amd64")
	if _, err := w.reg.Push("acme/web:2", unsigned); err != nil {
		t.Fatal(err)
	}
	down := imagetest.NewRegistry()
	downHost = down.Host()
	down.Close()
	data, _ := os.ReadFile(w.policy)
	allowed := fmt.Sprintf("images:\n  allowedRegistries: [%q, %q]\n", w.reg.Host(), downHost)
	os.WriteFile(w.policy, []byte(strings.Replace(string(data), "images:\n", allowed, 1)), 0o644)
	return w, downHost
}

// apiServerClient posts reviews with the API server's own webhook client
// (k8s.io/apiserver/pkg/util/webhook), configured by the kubeconfig kubegate generates,
// as the ImagePolicyWebhook plugin does.
type apiServerClient struct{ gw *apiwebhook.GenericWebhook }

func newAPIServerClient(t testing.TB, url string, p pki) *apiServerClient {
	t.Helper()
	dir := t.TempDir()
	if code, out, errOut := kubegate(t, "", "generate", "image-policy", "--webhook-url", url, "--ca-file", p.ca,
		"--client-cert", p.clientCert, "--client-key", p.clientKey, "--out", dir); code != 0 {
		t.Fatalf("generate image-policy: exit %d\n%s%s", code, out, errOut)
	}
	rc, err := apiwebhook.LoadKubeconfig(filepath.Join(dir, "kubeconfig.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	imagepolicy.AddToScheme(scheme)
	gw, err := apiwebhook.NewGenericWebhook(scheme, serializer.NewCodecFactory(scheme), rc,
		[]schema.GroupVersion{imagepolicy.SchemeGroupVersion}, apiwebhook.DefaultRetryBackoffWithInitialDelay(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return &apiServerClient{gw}
}

func (c *apiServerClient) review(t testing.TB, namespace string, images ...string) imagepolicy.ImageReviewStatus {
	t.Helper()
	review := &imagepolicy.ImageReview{Spec: imagepolicy.ImageReviewSpec{Namespace: namespace,
		Annotations: map[string]string{"break-glass.image-policy.k8s.io/ticket": "please"}}}
	for _, im := range images {
		review.Spec.Containers = append(review.Spec.Containers, imagepolicy.ImageReviewContainerSpec{Image: im})
	}
	ctx := context.Background()
	result := c.gw.WithExponentialBackoff(ctx, func() rest.Result { return c.gw.RestClient.Post().Body(review).Do(ctx) })
	var code int
	if result.StatusCode(&code); code != http.StatusOK || result.Error() != nil {
		t.Fatalf("review of %v: HTTP %d, %v", images, code, result.Error())
	}
	if err := result.Into(review); err != nil {
		t.Fatal(err)
	}
	return review.Status
}

// serveWebhook runs `kubegate webhook serve` as a process and returns its address.
func serveWebhook(t *testing.T, w *imageWorld, p pki) (addr string, cmd *exec.Cmd, logs *strings.Builder) {
	t.Helper()
	self, _ := os.Executable()
	cmd = exec.Command(self, "webhook", "serve", "--config", w.policy, "--tls-cert", p.serverCert, "--tls-key", p.serverKey,
		"--client-ca", p.ca, "--listen", "127.0.0.1:0", "--skip-db-update", "--trivy-cache-dir", w.trivyDir,
		"--verdict-cache-dir", filepath.Join(w.dir, "cache"))
	cmd.Env = append(os.Environ(), "KUBEGATE_TEST_AS_CLI=1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs = &strings.Builder{}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			var line struct{ Msg, Address string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				found <- line.Address
			}
		}
	}()
	select {
	case addr = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("the webhook did not start:\n%s", logs)
	}
	return addr, cmd, logs
}

func TestWebhookServe(t *testing.T) {
	w, downHost := webhookWorld(t)
	h := w.reg.Host()
	p := newPKI(t, t.TempDir())
	addr, server, logs := serveWebhook(t, w, p)

	caPEM, _ := os.ReadFile(p.ca)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	anonymous := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		resp, err := anonymous.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for code, _ := get("/readyz"); code != http.StatusOK; code, _ = get("/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if _, body := get("/readyz"); !strings.HasPrefix(body, "ok: vulnerability DB v") || !strings.Contains(body, " ago") {
		t.Errorf("/readyz does not name the DB and its age: %q", body)
	}
	api := newAPIServerClient(t, "https://"+addr+"/imagereview", p)
	if s := api.review(t, "shop", h+"/acme/web:1"); !s.Allowed || s.Reason != "" {
		t.Errorf("signed, clean image: %+v, want allowed", s)
	}
	for _, c := range []struct {
		name, image, reason string
	}{
		{"unsigned", h + "/acme/web:2", "kubegate: image-unverified: image " + h + "/acme/web:2@sha256:"},
		{"vulnerable", h + "/acme/agent:1", "kubegate: image-vulnerable: image " + h + "/acme/agent:1@sha256:"},
		{"disallowed registry", "docker.io/library/nginx:1.27", fmt.Sprintf(`kubegate: image-registry-not-allowed: image "docker.io/library/nginx:1.27" (docker.io/library/nginx) is outside images.allowedRegistries [%s, %s]`, h, downHost)},
		{"registry down", downHost + "/acme/web:1", "kubegate: image-unresolved: image " + downHost + "/acme/web:1 could not be resolved"},
		{"latest", h + "/acme/web:latest", `kubegate: image-not-pinned: image "` + h + `/acme/web:latest" uses the mutable :latest tag`},
	} {
		s := api.review(t, "shop", h+"/acme/web:1", c.image)
		if s.Allowed || !strings.HasPrefix(s.Reason, c.reason) {
			t.Errorf("%s: %+v\nwant denied with reason %q…", c.name, s, c.reason)
		}
	}
	if s := api.review(t, "shop", h+"/acme/agent:1"); !strings.Contains(s.Reason, "CVE-2026-3001 (critical) in musl 1.2.5-r9, fixed in 1.2.5-r10") ||
		s.AuditAnnotations["kubegate-rules"] != "image-vulnerable" {
		t.Errorf("vulnerable image: reason %q, audit annotations %v", s.Reason, s.AuditAnnotations)
	}

	// What the API server would count as a backend failure (and deny, defaultAllow false).
	client := api.gw.RestClient
	for _, c := range []struct {
		body string
		code int
		msg  string
	}{
		{"{not json", http.StatusBadRequest, "not an ImageReview"},
		{`{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{}}`, http.StatusBadRequest, "the review names no containers"},
		{`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest, `want apiVersion imagepolicy.k8s.io/v1alpha1, kind ImageReview; got apiVersion "admission.k8s.io/v1", kind "AdmissionReview"`},
		{`{"x":"` + strings.Repeat("a", 1<<20) + `"}`, http.StatusRequestEntityTooLarge, "review larger than 1048576 bytes"},
	} {
		var code int
		res := client.Post().Body([]byte(c.body)).Do(context.Background())
		res.StatusCode(&code)
		raw, _ := res.Raw()
		if code != c.code || !strings.Contains(string(raw), c.msg) {
			t.Errorf("%.40s: HTTP %d %q, want %d %q", c.body, code, raw, c.code, c.msg)
		}
	}
	// Without the API server's client certificate: refused.
	resp, err := anonymous.Post("https://"+addr+"/imagereview", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no client certificate: %v %v, want 401", resp.Status, err)
	}
	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	code, metrics := get("/metrics")
	for _, s := range []string{`kubegate_webhook_decisions_total{decision="allow"} 1`, `kubegate_webhook_decisions_total{decision="deny"} 6`,
		`kubegate_webhook_denials_total{rule="image-unverified"} 1`, `kubegate_webhook_requests_total{code="400"} 3`,
		`kubegate_webhook_review_duration_seconds_bucket{decision="allow"`, "kubegate_vulnerability_db_age_seconds ",
		"kubegate_vulnerability_db_refresh_failures_total 0"} {
		if !strings.Contains(metrics, s) {
			t.Errorf("metrics (HTTP %d) lack %s", code, s)
		}
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}

	server.Process.Signal(syscall.SIGTERM)
	if err := server.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
	log := logs.String()
	if !strings.Contains(log, `"msg":"review","namespace":"shop"`) || strings.Contains(log, "please") || strings.Contains(log, "PRIVATE KEY") {
		t.Errorf("logs: want one JSON line per review, without annotations or keys:\n%s", log)
	}
}

// BenchmarkWebhookCachedImage measures a review of an image whose verdict is cached (its
// digest unchanged): the HEAD request for the digest, the cache read and the decision,
// over HTTPS with the API server's client. It reports the p99.
func BenchmarkWebhookCachedImage(b *testing.B) {
	w, _ := webhookWorld(b)
	p := newPKI(b, b.TempDir())
	pol, err := policy.Load(w.policy, rules.Catalogue())
	if err != nil {
		b.Fatal(err)
	}
	images := imageFlags{skipDBUpdate: true, trivyCacheDir: w.trivyDir, cacheDir: filepath.Join(w.dir, "cache"), parallel: 8}
	srv, _, closeScanner, err := webhookServer(pol, &images, time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer closeScanner()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln, webhook.Options{CertFile: p.serverCert, KeyFile: p.serverKey})
	api := newAPIServerClient(b, "https://"+ln.Addr().String()+"/imagereview", p)
	image := w.reg.Host() + "/acme/web:1"
	if s := api.review(b, "shop", image); !s.Allowed { // checks it once: verified, scanned, cached
		b.Fatalf("first review: %+v", s)
	}
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if s := api.review(b, "shop", image); !s.Allowed {
			b.Fatalf("cached review: %+v", s)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
}

// TestDeployWebhook: the manifests that run the webhook pass the gate with zero findings,
// their policy loads, and every argument they give is a flag of webhook serve.
func TestDeployWebhook(t *testing.T) {
	code, out, errOut := kubegate(t, "", "check", "--offline", "--fail-on", "info", "--format", "json", "../../deploy/webhook")
	r := jsonReport(t, out)
	if code != 0 || len(r.Findings) != 0 || r.Summary.Objects != 10 {
		t.Errorf("exit %d, %d objects, findings %+v\n%s", code, r.Summary.Objects, r.Findings, errOut)
	}
	if _, err := policy.Load("../../deploy/webhook/policy/kubegate.yaml", rules.Catalogue()); err != nil {
		t.Error(err)
	}
	data, _ := os.ReadFile("../../deploy/webhook/deployment.yaml")
	flags := newWebhookServeCmd().Flags()
	for _, line := range strings.Split(string(data), "\n") {
		arg, ok := strings.CutPrefix(strings.TrimSpace(line), "- --")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(arg, "=")
		if flags.Lookup(name) == nil {
			t.Errorf("deployment.yaml passes --%s, which webhook serve does not have", name)
		}
	}
}
