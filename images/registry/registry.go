// Package registry resolves image references with go-containerregistry: tag to digest,
// the platform images of a multi-arch index, and each image's config. Credentials come
// from the Docker config (docker login, credential helpers) and the CI's own variables;
// they are never logged. Transient failures are retried with backoff, and every request
// has its own timeout.
package registry

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubegate/kubegate/images"
)

// Options configure the resolver. The zero value is ready for CI.
type Options struct {
	Keychain  authn.Keychain    // default: Keychain()
	Insecure  []string          // registries (host[:port]) reached over plain HTTP
	Timeout   time.Duration     // per request; default 30s
	Retries   int               // attempts after the first for 408/429/5xx and network errors; default 3
	Transport http.RoundTripper // default: http.DefaultTransport
}

// Resolver is an images.Resolver over the registries' HTTP API.
type Resolver struct {
	base   []remote.Option
	puller *remote.Puller // shares each repository's ping and token between requests
	opts   Options
}

// New returns a resolver.
func New(opts Options) *Resolver {
	if opts.Keychain == nil {
		opts.Keychain = Keychain()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	r := &Resolver{opts: opts, base: []remote.Option{
		remote.WithAuthFromKeychain(opts.Keychain),
		remote.WithTransport(timeoutTransport{next: opts.Transport, timeout: opts.Timeout}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: opts.Retries + 1}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
		remote.WithUserAgent("kubegate"),
	}}
	if p, err := remote.NewPuller(r.base...); err == nil {
		r.puller = p
	}
	return r
}

// Remote returns the go-containerregistry options every request of this resolver uses, so
// that the signature verifier reaches the registry the same way.
func (r *Resolver) Remote(ctx context.Context) []remote.Option {
	opts := append(slices.Clip(r.base), remote.WithContext(ctx))
	if r.puller != nil {
		opts = append(opts, remote.Reuse(r.puller))
	}
	return opts
}

// Parse parses a reference, marking registries listed as insecure so that they are
// reached over plain HTTP.
func (r *Resolver) Parse(ref string) (name.Reference, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if r.listedInsecure(parsed) {
		return name.ParseReference(ref, name.Insecure)
	}
	return parsed, nil
}

func (r *Resolver) listedInsecure(ref name.Reference) bool {
	return slices.Contains(r.opts.Insecure, ref.Context().RegistryStr())
}

// DefaultPlatforms are checked in a multi-arch index when the policy names none.
var DefaultPlatforms = []images.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// Resolve reads the reference's manifest and, for an index, the images of the platforms
// asked for that the index has; then each image's config.
func (r *Resolver) Resolve(ctx context.Context, ref string, platforms []images.Platform) (*images.Resolved, error) {
	parsed, err := r.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("not a valid image reference: %v", err)
	}
	if len(platforms) == 0 {
		platforms = DefaultPlatforms
	}
	plain := &plainHTTP{}
	ctx = context.WithValue(ctx, plainHTTPKey{}, plain)
	opts := r.Remote(ctx)
	desc, err := remote.Get(parsed, opts...)
	if err != nil {
		return nil, describe(err)
	}
	res := &images.Resolved{Ref: ref, Digest: desc.Digest}
	defer func() {
		// Registries listed as insecure are reported from the policy, by reference.
		if host := plain.seen(); host != "" && !r.listedInsecure(parsed) {
			res.PlainHTTP = host
		}
	}()
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, describe(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, describe(err)
		}
		var have []string
		for _, m := range im.Manifests {
			if m.Platform == nil || m.Platform.OS == "unknown" { // attestation manifests of buildx
				continue
			}
			have = append(have, m.Platform.String())
			if !slices.ContainsFunc(platforms, func(p images.Platform) bool { return m.Platform.Satisfies(p) }) {
				continue
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return nil, describe(err)
			}
			pi, err := platformImage(img, m.Digest)
			if err != nil {
				return nil, err
			}
			res.Platforms = append(res.Platforms, pi)
		}
		if len(res.Platforms) == 0 {
			return nil, fmt.Errorf("the index %s has none of the platforms checked (%s); it has %s",
				desc.Digest, platformList(platforms), strings.Join(have, ", "))
		}
		return res, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, describe(err)
	}
	pi, err := platformImage(img, desc.Digest)
	if err != nil {
		return nil, err
	}
	res.Platforms = []images.PlatformImage{pi}
	return res, nil
}

func platformImage(img v1.Image, digest v1.Hash) (images.PlatformImage, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return images.PlatformImage{}, fmt.Errorf("reading the config of %s: %w", digest, describe(err))
	}
	p := images.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	return images.PlatformImage{Platform: p, Digest: digest, Config: cfg, Image: img}, nil
}

func platformList(ps []images.Platform) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// Digest reads only what a reference points at now (a HEAD request, no body).
func (r *Resolver) Digest(ctx context.Context, ref string) (string, error) {
	parsed, err := r.Parse(ref)
	if err != nil {
		return "", err
	}
	plain := &plainHTTP{}
	desc, err := remote.Head(parsed, r.Remote(context.WithValue(ctx, plainHTTPKey{}, plain))...)
	if err != nil {
		return "", describe(err)
	}
	if host := plain.seen(); host != "" && !r.listedInsecure(parsed) {
		// No cached verdict for what came over plain HTTP: resolving it again reports it.
		return "", fmt.Errorf("%s answered over plain HTTP", host)
	}
	return desc.Digest.String(), nil
}
