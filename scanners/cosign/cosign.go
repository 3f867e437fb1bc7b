// Package cosign verifies image signatures and attestations with the cosign v3 library,
// both as cosign v3 stores them (Sigstore bundles attached through the OCI referrers API)
// and the classic way (a sha256-<digest>.sig tag, .att for attestations), the way
// `cosign verify` does: bundles when the image has any, else the classic tags.
package cosign

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/cosign/v3/pkg/oci"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/policy"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kubegate/kubegate/scanners"
)

// SignPredicate is the predicate type of a cosign v3 signature stored as a bundle.
const SignPredicate = "https://sigstore.dev/cosign/sign/v1"

// Options configure the verifier.
type Options struct {
	// Remote returns the registry options (auth, transport, retries) of one check.
	Remote func(ctx context.Context) []remote.Option
	// Parse parses references as the resolver does (insecure registries).
	Parse func(ref string) (name.Reference, error)
	// TrustedRoot loads the Sigstore trust material (Fulcio CAs, Rekor and CT log keys,
	// TSAs) for keyless signatures and transparency-log checks. Default: the Sigstore
	// public-good root through TUF.
	TrustedRoot func() (root.TrustedMaterial, error)
	// BaseDir resolves relative key paths (the policy file's directory).
	BaseDir string
}

// TrustedRootFile loads a trusted_root.json (a private Sigstore, or an air-gapped copy).
func TrustedRootFile(path string) func() (root.TrustedMaterial, error) {
	return func() (root.TrustedMaterial, error) {
		tr, err := root.NewTrustedRootFromPath(path)
		if err != nil {
			return nil, fmt.Errorf("reading the trusted root %s: %v", path, err)
		}
		return tr, nil
	}
}

// Verifier is a scanners.Verifier.
type Verifier struct {
	opts        Options
	trustedRoot func() (root.TrustedMaterial, error)
	keys        sync.Map // key reference → keyResult
}

type keyResult struct {
	v   signature.Verifier
	err error
}

// New returns a verifier.
func New(opts Options) *Verifier {
	if opts.TrustedRoot == nil {
		opts.TrustedRoot = cosign.TrustedRoot
	}
	if opts.Parse == nil {
		opts.Parse = func(ref string) (name.Reference, error) { return name.ParseReference(ref) }
	}
	return &Verifier{opts: opts, trustedRoot: sync.OnceValues(opts.TrustedRoot)}
}

// Verify requires a signature by one of the rule's keys or keyless identities on the image
// digest, and a signed attestation of every type asked for, by the same signers.
func (v *Verifier) Verify(ctx context.Context, ref string, digest v1.Hash, rule *scanners.SignatureRule, atts []scanners.AttestationRule) (*scanners.Verification, error) {
	if rule == nil || (len(rule.Keys) == 0 && len(rule.Keyless) == 0) {
		return nil, errors.New("the policy asks for attestations but names no key or keyless identity to verify them with")
	}
	parsed, err := v.opts.Parse(ref)
	if err != nil {
		return nil, err
	}
	digestRef := parsed.Context().Digest(digest.String())
	var regOpts []ociremote.Option
	if v.opts.Remote != nil {
		regOpts = append(regOpts, ociremote.WithRemoteOptions(v.opts.Remote(ctx)...))
	}
	// Bundles first, as cosign verify does; a registry without the referrers API simply has none.
	bundles, _, _ := cosign.GetBundles(ctx, digestRef, regOpts)
	newFormat := len(bundles) > 0

	var failures []string
	for _, a := range v.authorities(rule) {
		co, err := v.checkOpts(a, rule, regOpts, newFormat)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", a.name, err))
			continue
		}
		res, err := verifyWith(ctx, digestRef, co, newFormat, atts)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", a.name, err))
			continue
		}
		res.SignedBy = []string{a.name}
		return res, nil
	}
	format := "classic .sig signatures"
	if newFormat {
		format = fmt.Sprintf("%d Sigstore bundle(s)", len(bundles))
	}
	return nil, fmt.Errorf("no valid signature (%s checked): %s", format, strings.Join(failures, "; "))
}

type authority struct {
	name     string
	key      string // a key reference, or
	identity *scanners.KeylessIdentity
}

func (v *Verifier) authorities(rule *scanners.SignatureRule) []authority {
	var out []authority
	for _, k := range rule.Keys {
		out = append(out, authority{name: "key " + k, key: k})
	}
	for i := range rule.Keyless {
		id := &rule.Keyless[i]
		out = append(out, authority{name: "keyless " + id.String(), identity: id})
	}
	return out
}

func (v *Verifier) checkOpts(a authority, rule *scanners.SignatureRule, regOpts []ociremote.Option, newFormat bool) (*cosign.CheckOpts, error) {
	co := &cosign.CheckOpts{RegistryClientOpts: regOpts, IgnoreTlog: rule.IgnoreTlog, NewBundleFormat: newFormat}
	if a.key != "" {
		sv, err := v.loadKey(a.key)
		if err != nil {
			return nil, err
		}
		co.SigVerifier = sv
		co.IgnoreSCT = true
	} else {
		co.Identities = []cosign.Identity{{Issuer: a.identity.Issuer, IssuerRegExp: a.identity.IssuerRegExp,
			Subject: a.identity.Subject, SubjectRegExp: a.identity.SubjectRegExp}}
		// Keyless trust rests on the transparency log's time (or a TSA's): ignoreTlog
		// applies to private keys only.
		co.IgnoreTlog = false
	}
	if a.key == "" || !co.IgnoreTlog {
		tm, err := v.trustedRoot()
		if err != nil {
			return nil, fmt.Errorf("loading the Sigstore trusted root: %v", err)
		}
		co.TrustedMaterial = tm
	}
	if newFormat {
		co.ClaimVerifier = cosign.IntotoSubjectClaimVerifier
	} else {
		co.ClaimVerifier = cosign.SimpleClaimVerifier
	}
	return co, nil
}

func verifyWith(ctx context.Context, digestRef name.Digest, co *cosign.CheckOpts, newFormat bool, atts []scanners.AttestationRule) (*scanners.Verification, error) {
	var verified []oci.Signature
	if newFormat {
		all, _, err := cosign.VerifyImageAttestations(ctx, digestRef, co)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(all, func(s oci.Signature) bool { return predicateType(ctx, s) == SignPredicate }) {
			return nil, errors.New("the bundles verified hold attestations but no signature")
		}
		verified = all
	} else {
		if _, _, err := cosign.VerifyImageSignatures(ctx, digestRef, co); err != nil {
			return nil, err
		}
		if len(atts) > 0 {
			classic, _, err := cosign.VerifyImageAttestations(ctx, digestRef, co)
			if err != nil {
				return nil, fmt.Errorf("attestations: %v", err)
			}
			verified = classic
		}
	}
	res := &scanners.Verification{}
	for _, want := range atts {
		found := false
		for _, s := range verified {
			if payload, _, err := policy.AttestationToPayloadJSON(ctx, want.Type, s); err == nil && payload != nil {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no signed %s attestation", want.Type)
		}
		res.Attestations = append(res.Attestations, want.Type)
	}
	return res, nil
}

// predicateType reads the in-toto predicate type of a verified DSSE attestation.
func predicateType(ctx context.Context, s oci.Signature) string {
	_, typ, _ := policy.AttestationToPayloadJSON(ctx, SignPredicate, s)
	return typ
}

// loadKey reads a PEM public key from a file (relative to the policy) or env://VAR.
func (v *Verifier) loadKey(ref string) (signature.Verifier, error) {
	if r, ok := v.keys.Load(ref); ok {
		kr := r.(keyResult)
		return kr.v, kr.err
	}
	sv, err := readKey(ref, v.opts.BaseDir)
	v.keys.Store(ref, keyResult{sv, err})
	return sv, err
}

func readKey(ref, baseDir string) (signature.Verifier, error) {
	var pemBytes []byte
	if env, ok := strings.CutPrefix(ref, "env://"); ok {
		val := os.Getenv(env)
		if val == "" {
			return nil, fmt.Errorf("environment variable %s is empty", env)
		}
		pemBytes = []byte(val)
	} else {
		path := ref
		if baseDir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the public key: %v", err)
		}
		pemBytes = b
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("not a PEM public key: %v", err)
	}
	return signature.LoadVerifier(pub, crypto.SHA256)
}
