package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	imagepolicy "k8s.io/api/imagepolicy/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubegate/kubegate/images"
)

// MaxRequestBytes bounds a review: a pod's image list is a few kilobytes.
const MaxRequestBytes = 1 << 20

// Path is where the API server posts reviews (the kubeconfig's server URL ends with it).
const Path = "/imagereview"

// Server serves reviews, health, readiness and metrics.
type Server struct {
	Reviewer *Reviewer
	Log      *slog.Logger
	Metrics  *Metrics
	// Ready says whether reviews can be answered (the vulnerability DB is open); nil: always.
	Ready func() error
	// DB is the vulnerability DB in use, for /readyz; ok is false while none is open.
	DB func() (info images.DBInfo, ok bool)
	// ClientCAs, when set, is who may ask for reviews: /imagereview requires a client
	// certificate they signed (the API server's, from the kubeconfig's user). Health and
	// metrics stay open for probes and scrapers.
	ClientCAs *x509.CertPool
}

// Handler routes the endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, s.review)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.Metrics.Handler())
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if s.DB != nil {
		if info, ok := s.DB(); ok {
			fmt.Fprintf(w, "ok: vulnerability DB %s, built %s ago\n", info.Version, time.Since(info.UpdatedAt).Round(time.Minute))
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// review answers one ImageReview. A decision, allow or deny, is HTTP 200: the API server
// treats any other status as a backend failure. Bad requests are 4xx; with the generated
// defaultAllow: false the API server denies those pods too.
func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, decision := s.answer(w, r, start)
	s.Metrics.observe(code, decision, time.Since(start))
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, start time.Time) (int, *Decision) {
	fail := func(code int, format string, args ...any) (int, *Decision) {
		msg := fmt.Sprintf(format, args...)
		s.Log.Warn("bad review request", "status", code, "error", msg, "remote", r.RemoteAddr)
		http.Error(w, msg, code)
		return code, nil
	}
	if s.ClientCAs != nil && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		return fail(http.StatusUnauthorized, "a client certificate signed by --client-ca is required")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fail(http.StatusRequestEntityTooLarge, "review larger than %d bytes", MaxRequestBytes)
		}
		return fail(http.StatusBadRequest, "reading the review: %v", err)
	}
	var review imagepolicy.ImageReview
	if err := json.Unmarshal(body, &review); err != nil {
		return fail(http.StatusBadRequest, "not an ImageReview: %v", err)
	}
	gv := imagepolicy.SchemeGroupVersion.String()
	if review.APIVersion != gv || review.Kind != "ImageReview" {
		return fail(http.StatusBadRequest, "want apiVersion %s, kind ImageReview; got apiVersion %q, kind %q", gv, review.APIVersion, review.Kind)
	}
	if len(review.Spec.Containers) == 0 {
		return fail(http.StatusBadRequest, "the review names no containers")
	}

	d := s.Reviewer.Review(r.Context(), review.Spec)
	images := make([]string, len(review.Spec.Containers))
	for i, c := range review.Spec.Containers {
		images[i] = c.Image
	}
	// Pod annotations are not logged: users set them freely, and they are not needed to
	// explain a decision.
	s.Log.Info("review", "namespace", review.Spec.Namespace, "images", images, "allowed", d.Allowed,
		"rules", d.Rules, "reason", d.Reason, "warnings", d.Warnings, "duration", time.Since(start).String())
	out := imagepolicy.ImageReview{
		TypeMeta: metav1.TypeMeta{APIVersion: gv, Kind: "ImageReview"},
		Status:   imagepolicy.ImageReviewStatus{Allowed: d.Allowed, Reason: d.Reason},
	}
	if !d.Allowed {
		// The plugin prefixes the keys with imagepolicywebhook.image-policy.k8s.io/.
		out.Status.AuditAnnotations = map[string]string{"kubegate-rules": strings.Join(d.Rules, ",")}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		s.Log.Warn("writing the review answer", "error", err)
	}
	return http.StatusOK, &d
}

// Options are how Serve serves.
type Options struct {
	CertFile, KeyFile string // the serving certificate, reloaded when the files change
}

// Serve serves on ln over TLS (1.2 or newer) until ctx is done, then drains for up to 10 s.
func (s *Server) Serve(ctx context.Context, ln net.Listener, o Options) error {
	certs, err := newCertReloader(o.CertFile, o.KeyFile, s.Log)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get, NextProtos: []string{"h2", "http/1.1"}}
	if s.ClientCAs != nil {
		cfg.ClientCAs, cfg.ClientAuth = s.ClientCAs, tls.VerifyClientCertIfGiven
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      s.Reviewer.timeout() + 10*time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	s.Log.Info("serving", "address", ln.Addr().String(), "path", Path, "clientAuth", s.ClientCAs != nil)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// LoadCAs reads a PEM bundle of client CAs.
func LoadCAs(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}
