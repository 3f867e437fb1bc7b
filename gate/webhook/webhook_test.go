package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	imagepolicy "k8s.io/api/imagepolicy/v1alpha1"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/internal/testpki"
)

func writeCert(t *testing.T, dir, cn string) {
	t.Helper()
	cert, key := testpki.NewCA(t).Issue(t, cn)
	os.WriteFile(filepath.Join(dir, "tls.crt"), cert, 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600)
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "one.example")
	c, err := newCertReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	name := func() string {
		c.mu.Lock()
		c.checked = time.Time{} // as if a second had passed
		c.mu.Unlock()
		cert, _ := c.get(nil)
		return cert.Leaf.Subject.CommonName
	}
	if got := name(); got != "one.example" {
		t.Fatalf("serving %s", got)
	}
	writeCert(t, dir, "two.example") // a renewal
	if got := name(); got != "two.example" {
		t.Errorf("after renewal serving %s, want two.example", got)
	}
	os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("half-written"), 0o600) // a broken renewal
	if got := name(); got != "two.example" {
		t.Errorf("after a broken renewal serving %s, want the previous two.example", got)
	}
	if _, err := newCertReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.HasPrefix(err.Error(), "serving certificate: ") {
		t.Errorf("starting with a broken certificate: %v", err)
	}
}

// stuckResolver never answers, like a registry that accepts the connection and stalls.
type stuckResolver struct{ release chan struct{} }

func (s stuckResolver) Resolve(ctx context.Context, ref string, _ []images.Platform) (*images.Resolved, error) {
	<-s.release
	return nil, context.Canceled
}

// panickyResolver is a bug in the image stage.
type panickyResolver struct{}

func (panickyResolver) Resolve(context.Context, string, []images.Platform) (*images.Resolved, error) {
	var m map[string]*v1.Hash
	return &images.Resolved{Digest: *m["boom"]}, nil
}

func TestReviewFailsClosed(t *testing.T) {
	spec := imagepolicy.ImageReviewSpec{Namespace: "shop", Containers: []imagepolicy.ImageReviewContainerSpec{{Image: "ghcr.io/acme/web:1"}}}
	release := make(chan struct{})
	defer close(release)
	r := &Reviewer{Policy: policy.Default(), Checker: &images.Checker{Resolver: stuckResolver{release}}, Timeout: 50 * time.Millisecond}
	d := r.Review(context.Background(), spec)
	want := "kubegate: image ghcr.io/acme/web:1: not checked within 50ms; the check goes on and the next review uses its result"
	if d.Allowed || d.Reason != want || strings.Join(d.Rules, ",") != ruleError {
		t.Errorf("stalled registry: %+v\nwant denied: %s", d, want)
	}

	r = &Reviewer{Policy: policy.Default(), Checker: &images.Checker{Resolver: panickyResolver{}}}
	d = r.Review(context.Background(), spec)
	if d.Allowed || !strings.HasPrefix(d.Reason, "kubegate: internal error checking image ghcr.io/acme/web:1: runtime error") {
		t.Errorf("a panic in the image stage: %+v, want denied", d)
	}
}

func TestReviewAppliesThePolicy(t *testing.T) {
	p, err := policy.Parse([]byte(`apiVersion: kubegate.dev/v1alpha1
kind: Policy
failOn: high
images:
  allowedRegistries: [ghcr.io/acme/]
rules:
  severity: {image-not-pinned: high}
exemptions:
- rule: image-registry-not-allowed
  namespace: legacy
  owner: platform
  reason: migrating to ghcr.io/acme by March
  expires: 2027-03-31
`), "kubegate.yaml", rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	unreachable := &images.Checker{Resolver: panickyResolver{}} // reference problems deny before the registry is asked
	r := &Reviewer{Policy: p, Checker: unreachable, Now: func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }}
	review := func(ns string, images ...string) Decision {
		spec := imagepolicy.ImageReviewSpec{Namespace: ns}
		for _, im := range images {
			spec.Containers = append(spec.Containers, imagepolicy.ImageReviewContainerSpec{Image: im})
		}
		return r.Review(context.Background(), spec)
	}
	d := review("shop", "docker.io/library/nginx:1.27", "ghcr.io/acme/web:latest", "ghcr.io/acme/web:latest")
	want := `kubegate: image-registry-not-allowed: image "docker.io/library/nginx:1.27" (docker.io/library/nginx) is outside images.allowedRegistries [ghcr.io/acme/]; ` +
		`image-not-pinned: image "ghcr.io/acme/web:latest" uses the mutable :latest tag`
	if d.Allowed || d.Reason != want || strings.Join(d.Rules, ",") != "image-not-pinned,image-registry-not-allowed" {
		t.Errorf("got %+v\nwant reason %s", d, want)
	}
	// The exemption covers its namespace only; the registry is then asked (and fails closed).
	d = review("legacy", "docker.io/library/nginx:1.27")
	if d.Allowed || strings.Contains(d.Reason, "image-registry-not-allowed") || !strings.Contains(d.Reason, "internal error") {
		t.Errorf("exempted namespace: %+v", d)
	}
}

// countingResolver counts the resolutions running at once.
type countingResolver struct {
	mu        sync.Mutex
	now, peak int
	calls     int
}

func (c *countingResolver) Resolve(ctx context.Context, ref string, _ []images.Platform) (*images.Resolved, error) {
	c.mu.Lock()
	c.now++
	c.calls++
	c.peak = max(c.peak, c.now)
	c.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	c.mu.Lock()
	c.now--
	c.mu.Unlock()
	return nil, errors.New("registry down")
}

// TestReviewIsBounded: one review's images are checked at most Parallel at once, and a
// review naming more images than the cap is denied without asking any registry.
func TestReviewIsBounded(t *testing.T) {
	spec := func(n int) imagepolicy.ImageReviewSpec {
		s := imagepolicy.ImageReviewSpec{Namespace: "shop"}
		for i := range n {
			s.Containers = append(s.Containers, imagepolicy.ImageReviewContainerSpec{Image: fmt.Sprintf("ghcr.io/acme/app%d:1", i)})
		}
		return s
	}
	res := &countingResolver{}
	r := &Reviewer{Policy: policy.Default(), Checker: &images.Checker{Resolver: res, Parallel: 3}}
	if d := r.Review(context.Background(), spec(40)); d.Allowed || res.calls != 40 || res.peak > 3 {
		t.Errorf("40 images: allowed %v, %d resolutions, %d at once (want at most 3)", d.Allowed, res.calls, res.peak)
	}
	res.calls = 0
	d := r.Review(context.Background(), spec(2000))
	want := "kubegate: the review names 2000 images, more than the 100 a review may (webhook serve --max-review-images)"
	if d.Allowed || d.Reason != want || strings.Join(d.Rules, ",") != ruleTooMany || res.calls != 0 {
		t.Errorf("2000 images: %+v after %d resolutions; want denied: %s", d, res.calls, want)
	}
}
