// Package imagetest serves images from an in-process registry on loopback and builds,
// pushes and signs them, for the image stage's tests and the offline demo. Faults can be
// injected per request path to prove that every error fails closed.
package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/sigstore/cosign/v3/pkg/oci"
	cmutate "github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kubegate/kubegate/images"
)

// Fault is how the registry misbehaves for requests whose path contains a string.
type Fault struct {
	Status  int           // answer with this status (401, 404, 500, …)
	Delay   time.Duration // stall this long before answering
	Corrupt bool          // flip bytes of the body (a digest mismatch): every 'a' becomes 'b'
	// FlipByte inverts the middle byte of the body: a digest mismatch in any body, where
	// Corrupt changes nothing in one without an 'a' (compressed layers, say).
	FlipByte bool
	// Truncate sends half the body under the full Content-Length, then closes.
	Truncate bool
	Reset    bool // close the connection without an answer
	Count    int  // how many times; 0 = always
}

// Registry is an OCI registry (with the referrers API) on a loopback port.
type Registry struct {
	Server *httptest.Server
	mu     sync.Mutex
	faults map[string]*Fault
}

// NewRegistry starts a registry over plain HTTP; Close stops it.
func NewRegistry() *Registry { return newRegistry(httptest.NewServer) }

// NewTLSRegistry starts a registry over HTTPS with a self-signed certificate: clients
// trust it through CertificatePEM (SSL_CERT_FILE for another process).
func NewTLSRegistry() *Registry { return newRegistry(httptest.NewTLSServer) }

func newRegistry(serve func(http.Handler) *httptest.Server) *Registry {
	r := &Registry{faults: map[string]*Fault{}}
	inner := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = serve(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if f := r.fault(req.URL.Path); f != nil {
			if f.Delay > 0 {
				select {
				case <-time.After(f.Delay):
				case <-req.Context().Done():
					return
				}
			}
			if f.Status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(f.Status)
				fmt.Fprintf(w, `{"errors":[{"code":"INJECTED","message":"injected fault %d"}]}`, f.Status)
				return
			}
			if f.Reset {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
						tc.SetLinger(0) // an RST, not a FIN
					}
					conn.Close()
				}
				return
			}
			if f.Truncate || f.Corrupt || f.FlipByte {
				rec := httptest.NewRecorder()
				inner.ServeHTTP(rec, req)
				body := rec.Body.Bytes()
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				if f.Corrupt {
					for i := range body {
						if body[i] == 'a' {
							body[i] = 'b'
						}
					}
				}
				if f.FlipByte && len(body) > 0 {
					body[len(body)/2] ^= 0xff
				}
				if !f.Truncate {
					w.WriteHeader(rec.Code)
					w.Write(body)
					return
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				w.WriteHeader(rec.Code)
				w.Write(body[:len(body)/2]) // under the full Content-Length, then hang up
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
		}
		inner.ServeHTTP(w, req)
	}))
	return r
}

func (r *Registry) fault(path string) *Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for sub, f := range r.faults {
		if strings.Contains(path, sub) {
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					delete(r.faults, sub)
				}
			}
			return f
		}
	}
	return nil
}

// Inject makes requests whose path contains sub misbehave.
func (r *Registry) Inject(sub string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[sub] = &f
}

// Clear removes every fault.
func (r *Registry) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = map[string]*Fault{}
}

// Close stops the registry.
func (r *Registry) Close() { r.Server.Close() }

// Host is host:port.
func (r *Registry) Host() string { return r.Server.Listener.Addr().String() }

// CertificatePEM is the TLS registry's certificate.
func (r *Registry) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Server.Certificate().Raw})
}

// Remote is how to reach the registry, TLS or not.
func (r *Registry) Remote() []remote.Option {
	return []remote.Option{remote.WithTransport(r.Server.Client().Transport)}
}

func (r *Registry) parse(ref string) (name.Reference, error) {
	if r.Server.TLS != nil {
		return name.ParseReference(ref)
	}
	return name.ParseReference(ref, name.Insecure)
}

// Push pushes an image under repo:tag (repo without the host) and returns its digest reference.
func (r *Registry) Push(repoTag string, img v1.Image) (name.Digest, error) {
	ref, err := r.parse(r.Host() + "/" + repoTag)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(ref, img, r.Remote()...); err != nil {
		return name.Digest{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(d.String()), nil
}

// PushIndex pushes a multi-arch index of images.
func (r *Registry) PushIndex(repoTag string, imgs map[string]v1.Image) (name.Digest, error) {
	ref, err := r.parse(r.Host() + "/" + repoTag)
	if err != nil {
		return name.Digest{}, err
	}
	var adds []mutate.IndexAddendum
	for _, plat := range slices.Sorted(maps.Keys(imgs)) { // a deterministic index
		img := imgs[plat]
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			return name.Digest{}, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	if err := remote.WriteIndex(ref, idx, r.Remote()...); err != nil {
		return name.Digest{}, err
	}
	d, err := idx.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(d.String()), nil
}

// Image builds an image with the files given (path → content) in one layer and the user
// the config names ("" = root).
func Image(files map[string]string, user, platform string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range sortedKeys(files) {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(files[p])); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Config.User = user
	cfg.Created = v1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	return mutate.ConfigFile(img, cfg)
}

// Alpine is an Alpine image whose apk database lists the packages (name → version).
func Alpine(release string, pkgs map[string]string, user, platform string) (v1.Image, error) {
	var db strings.Builder
	for _, n := range sortedKeys(pkgs) {
		fmt.Fprintf(&db, "P:%s\nV:%s\nA:x86_64\no:%s\n\n", n, pkgs[n], n)
	}
	return Image(map[string]string{
		"etc/alpine-release":   release + "\n",
		"lib/apk/db/installed": db.String(),
	}, user, platform)
}

// Debian is a Debian image whose dpkg status lists the packages (name → version).
func Debian(version string, pkgs map[string]string, user, platform string) (v1.Image, error) {
	var st strings.Builder
	for _, n := range sortedKeys(pkgs) {
		fmt.Fprintf(&st, "Package: %s\nStatus: install ok installed\nVersion: %s\nArchitecture: amd64\n\n", n, pkgs[n])
	}
	return Image(map[string]string{
		"etc/debian_version":  version + "\n",
		"etc/os-release":      fmt.Sprintf("ID=debian\nVERSION_ID=%q\n", strings.SplitN(version, ".", 2)[0]),
		"var/lib/dpkg/status": st.String(),
	}, user, platform)
}

// Signer signs with a key pair, the way cosign does.
type Signer struct {
	keypair *sign.EphemeralKeypair
}

// NewSigner makes an ECDSA P-256 key pair.
func NewSigner() (*Signer, error) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	return &Signer{keypair: kp}, nil
}

// PublicKeyPEM is the public key, as keys files hold it.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	p, err := s.keypair.GetPublicKeyPem()
	return []byte(p), err
}

// SignClassic attaches a classic cosign signature (simple signing payload in the
// sha256-<digest>.sig tag), with no transparency-log entry.
func (s *Signer) SignClassic(r *Registry, d name.Digest) error {
	body, err := json.Marshal(payload.Cosign{Image: d})
	if err != nil {
		return err
	}
	sig, _, err := s.keypair.SignData(context.Background(), body)
	if err != nil {
		return err
	}
	ociSig, err := static.NewSignature(body, base64.StdEncoding.EncodeToString(sig))
	if err != nil {
		return err
	}
	return attach(r, d, func(se oci.SignedEntity) (oci.SignedEntity, error) {
		return cmutate.AttachSignatureToEntity(se, ociSig)
	}, ociremote.WriteSignatures)
}

// attach adds a signature or attestation to the image's classic .sig or .att tag: read
// what the tag holds, add, write it back.
func attach(r *Registry, d name.Digest, add func(oci.SignedEntity) (oci.SignedEntity, error),
	write func(name.Repository, oci.SignedEntity, ...ociremote.Option) error) error {
	opts := ociremote.WithRemoteOptions(r.Remote()...)
	se, err := ociremote.SignedEntity(d, opts)
	if err != nil {
		return err
	}
	if se, err = add(se); err != nil {
		return err
	}
	return write(d.Repository, se, opts)
}

// AttestClassic attaches a classic cosign attestation (a DSSE envelope in the
// sha256-<digest>.att tag, as cosign attest --new-bundle-format=false writes it) with an
// in-toto statement about the digest.
func (s *Signer) AttestClassic(r *Registry, d name.Digest, predicateType string, predicate any) error {
	stmt, err := Statement(d, predicateType, predicate)
	if err != nil {
		return err
	}
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(stmt), stmt)
	sig, _, err := s.keypair.SignData(context.Background(), []byte(pae))
	if err != nil {
		return err
	}
	env, err := json.Marshal(map[string]any{
		"payloadType": payloadType,
		"payload":     base64.StdEncoding.EncodeToString(stmt),
		"signatures":  []any{map[string]string{"keyid": "", "sig": base64.StdEncoding.EncodeToString(sig)}},
	})
	if err != nil {
		return err
	}
	att, err := static.NewAttestation(env)
	if err != nil {
		return err
	}
	return attach(r, d, func(se oci.SignedEntity) (oci.SignedEntity, error) { return cmutate.AttachAttestationToEntity(se, att) }, ociremote.WriteAttestations)
}

// Statement is an in-toto statement about the image digest (kubegate's own, which
// check --attest signs).
func Statement(d name.Digest, predicateType string, predicate any) ([]byte, error) {
	return images.Statement(d, predicateType, predicate)
}

// Attest attaches a Sigstore bundle (cosign v3's format, through the referrers API) with
// an in-toto statement about the digest: predicateType SignPredicate makes it a signature.
func (s *Signer) Attest(r *Registry, d name.Digest, predicateType string, predicate any) error {
	return s.attest(r, d, predicateType, predicate, false)
}

// AttestTampered is Attest with one bit of the bundle's signature flipped after signing.
func (s *Signer) AttestTampered(r *Registry, d name.Digest, predicateType string) error {
	return s.attest(r, d, predicateType, nil, true)
}

func (s *Signer) attest(r *Registry, d name.Digest, predicateType string, predicate any, tamper bool) error {
	stmt, err := Statement(d, predicateType, predicate)
	if err != nil {
		return err
	}
	b, err := sign.Bundle(&sign.DSSEData{Data: stmt, PayloadType: "application/vnd.in-toto+json"}, s.keypair, sign.BundleOptions{Context: context.Background()})
	if err != nil {
		return err
	}
	if tamper {
		b.GetDsseEnvelope().GetSignatures()[0].Sig[0] ^= 1
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		return err
	}
	return ociremote.WriteAttestationNewBundleFormat(d, js, predicateType, ociremote.WithRemoteOptions(r.Remote()...))
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// WithFiller adds a layer holding size bytes of incompressible data, so that an image
// weighs what real ones do (a slim Debian base is ~30 MB) when timings matter.
func WithFiller(img v1.Image, size int) (v1.Image, error) {
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{'k', 'g'}).Read(data)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "usr/share/filler.bin", Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, layer)
}
