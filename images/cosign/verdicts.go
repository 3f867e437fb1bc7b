package cosign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	signatureoptions "github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/images"
)

// Verdicts returns the verdict attestations on the image digest (Sigstore bundles attached
// through the referrers API, as cosign v3 attaches them) whose signature, and whose in-toto
// subject, one of trust's keys or keyless identities verifies. An image without bundles
// (or a registry without the referrers API) has none.
func (v *Verifier) Verdicts(ctx context.Context, ref string, digest v1.Hash, trust *policy.SignatureRule) ([]images.SignedStatement, error) {
	parsed, err := v.opts.Parse(ref)
	if err != nil {
		return nil, err
	}
	digestRef := parsed.Context().Digest(digest.String())
	regOpts := v.registryOptions(ctx)
	var out []images.SignedStatement
	var failures []error
	for _, a := range v.authorities(trust) {
		co, err := v.checkOpts(a, trust, regOpts, true)
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %v", a.name, err))
			continue
		}
		verified, _, err := cosign.VerifyImageAttestations(ctx, digestRef, co)
		if err != nil {
			continue // none of the bundles is this authority's
		}
		for _, s := range verified {
			if typ, stmt, err := statement(s); err == nil && typ == images.VerdictPredicateType {
				out = append(out, images.SignedStatement{Signer: a.name, Statement: stmt})
			}
		}
	}
	if len(out) == 0 && len(failures) > 0 {
		return nil, errors.Join(failures...)
	}
	return out, nil
}

func (v *Verifier) registryOptions(ctx context.Context) []ociremote.Option {
	if v.opts.Remote == nil {
		return nil
	}
	return []ociremote.Option{ociremote.WithRemoteOptions(v.opts.Remote(ctx)...)}
}

// Attester signs in-toto statements and attaches them to images as Sigstore bundles
// through the referrers API, as `cosign attest` (cosign v3) does: with a private key (the
// bundles carry no transparency-log entry: verify them with ignoreTlog, as cosign
// verify-attestation --insecure-ignore-tlog does), or keyless (an ephemeral key, a Fulcio
// certificate for the CI's OIDC identity, an entry in Rekor).
type Attester struct {
	keypair sign.Keypair
	opts    Options
	// keyless: where the certificate and the log entry come from.
	certs    sign.CertificateProvider
	certOpts *sign.CertificateProviderOptions
	tlogs    []sign.Transparency
}

// Keyless is where a keyless attester gets its certificate and log entry.
type Keyless struct {
	IDToken   string // the OIDC identity token (SIGSTORE_ID_TOKEN, the CI's OIDC token)
	FulcioURL string // default https://fulcio.sigstore.dev
	RekorURL  string // default https://rekor.sigstore.dev
}

// NewKeylessAttester signs with an ephemeral key certified by Fulcio for the identity
// token's subject, and logs each signature in Rekor.
func NewKeylessAttester(k Keyless, opts Options) (*Attester, error) {
	if k.IDToken == "" {
		return nil, errors.New("keyless signing needs an OIDC identity token (SIGSTORE_ID_TOKEN, or the CI's OIDC token)")
	}
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	if k.FulcioURL == "" {
		k.FulcioURL = "https://fulcio.sigstore.dev"
	}
	if k.RekorURL == "" {
		k.RekorURL = "https://rekor.sigstore.dev"
	}
	if opts.Parse == nil {
		opts.Parse = func(ref string) (name.Reference, error) { return name.ParseReference(ref) }
	}
	return &Attester{keypair: kp, opts: opts,
		certs:    sign.NewFulcio(&sign.FulcioOptions{BaseURL: k.FulcioURL}),
		certOpts: &sign.CertificateProviderOptions{IDToken: k.IDToken},
		tlogs:    []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: k.RekorURL})},
	}, nil
}

// NewAttester loads a cosign private key (cosign generate-key-pair's PEM, encrypted with
// password).
func NewAttester(keyPEM, password []byte, opts Options) (*Attester, error) {
	sv, err := cosign.LoadPrivateKey(keyPEM, password, nil)
	if err != nil {
		return nil, err
	}
	kp, err := newKeypair(sv)
	if err != nil {
		return nil, err
	}
	if opts.Parse == nil {
		opts.Parse = func(ref string) (name.Reference, error) { return name.ParseReference(ref) }
	}
	return &Attester{keypair: kp, opts: opts}, nil
}

// Attest signs the in-toto statement stmt (about digest) and attaches it to the image.
func (a *Attester) Attest(ctx context.Context, ref string, digest v1.Hash, predicateType string, stmt []byte) error {
	parsed, err := a.opts.Parse(ref)
	if err != nil {
		return err
	}
	b, err := sign.Bundle(&sign.DSSEData{Data: stmt, PayloadType: "application/vnd.in-toto+json"}, a.keypair, sign.BundleOptions{Context: ctx,
		CertificateProvider: a.certs, CertificateProviderOptions: a.certOpts, TransparencyLogs: a.tlogs})
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		return err
	}
	var regOpts []ociremote.Option
	if a.opts.Remote != nil {
		regOpts = append(regOpts, ociremote.WithRemoteOptions(a.opts.Remote(ctx)...))
	}
	return ociremote.WriteAttestationNewBundleFormat(parsed.Context().Digest(digest.String()), js, predicateType, regOpts...)
}

// keypair is a cosign private key as sigstore-go signs with it (cosign's own adapter,
// internal/key.SignerVerifierKeypair, is not importable).
type keypair struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	hint   []byte
	keyAlg string
	alg    signature.AlgorithmDetails
}

func newKeypair(sv signature.SignerVerifier) (*keypair, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	k := &keypair{sv: sv, pub: pub, hint: []byte(base64.StdEncoding.EncodeToString(sum[:]))}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		k.keyAlg = "ECDSA"
	case *rsa.PublicKey:
		k.keyAlg = "RSA"
	case ed25519.PublicKey:
		k.keyAlg = "ED25519"
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	if k.alg, err = signature.GetDefaultAlgorithmDetails(pub); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *keypair) GetHint() []byte                { return k.hint }
func (k *keypair) GetKeyAlgorithm() string        { return k.keyAlg }
func (k *keypair) GetPublicKey() crypto.PublicKey { return k.pub }
func (k *keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	return string(b), err
}

func (k *keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	opts := []signature.SignOption{signatureoptions.WithContext(ctx)}
	var digest []byte
	if h := k.alg.GetHashType(); h != 0 {
		hh := h.New()
		hh.Write(data)
		digest = hh.Sum(nil)
		opts = append(opts, signatureoptions.WithDigest(digest))
	}
	sig, err := k.sv.SignMessage(bytes.NewReader(data), opts...)
	if err != nil {
		return nil, nil, err
	}
	return sig, digest, nil
}
