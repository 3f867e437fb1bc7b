// Package cosign verifies image signatures and attestations with the cosign v3 library,
// both as cosign v3 stores them (Sigstore bundles attached through the OCI referrers API)
// and the classic way (a sha256-<digest>.sig tag, .att for attestations), the way
// `cosign verify` does: bundles when the image has any, else the classic tags.
package cosign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/in-toto/in-toto-golang/in_toto"
	slsa02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/cosign/v3/pkg/cosign/attestation"
	"github.com/sigstore/cosign/v3/pkg/oci"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/images"
)

// SignPredicate is the predicate type of a cosign v3 signature stored as a bundle.
const SignPredicate = "https://sigstore.dev/cosign/sign/v1"

// Options configure the verifier.
type Options struct {
	// Remote returns the registry options (auth, transport, retries) of one check.
	Remote func(ctx context.Context) []remote.Option
	// Parse parses references as the resolver does (insecure registries).
	Parse func(ref string) (name.Reference, error)
	// TrustedRootFile is a trusted_root.json (a private Sigstore, or an air-gapped copy) for
	// keyless signatures and transparency-log checks. It is read at every use and parsed
	// again when its content changes.
	TrustedRootFile string
	// TrustedRoot loads the Sigstore trust material when there is no TrustedRootFile.
	// Default: the Sigstore public-good root through TUF (updated by TUF itself).
	TrustedRoot func() (root.TrustedMaterial, error)
	// BaseDir resolves relative key paths (the policy file's directory).
	BaseDir string

	// ignoreSCT skips the certificate transparency check of keyless certificates. Tests
	// only: the private Sigstore they make issues certificates without SCTs.
	ignoreSCT bool
}

// Verifier is an images.Verifier. Keys and the trusted root file are read at every use,
// so that a long-running process (the admission webhook) follows a rotated or revoked key;
// what they parse to is kept by content.
type Verifier struct {
	opts        Options
	trustedRoot func() (root.TrustedMaterial, error)
	mu          sync.Mutex
	parsed      map[[32]byte]any // PEM or JSON content → signature.Verifier or root.TrustedMaterial
}

// maxParsed bounds what a long-running process keeps of keys and roots it has seen.
const maxParsed = 64

// New returns a verifier.
func New(opts Options) *Verifier {
	if opts.TrustedRoot == nil {
		opts.TrustedRoot = cosign.TrustedRoot
	}
	if opts.Parse == nil {
		opts.Parse = func(ref string) (name.Reference, error) { return name.ParseReference(ref) }
	}
	return &Verifier{opts: opts, trustedRoot: sync.OnceValues(opts.TrustedRoot), parsed: map[[32]byte]any{}}
}

// Trust is the SHA-256 of the content of every key of the rule (not their paths or order:
// the same keys elsewhere are the same trust) and, when the rule needs it, of the trusted
// root file (the public-good root is named: TUF updates it).
func (v *Verifier) Trust(rule *policy.SignatureRule) (string, error) {
	h := sha256.New()
	var keys []string
	for _, k := range rule.Keys {
		pem, err := policy.KeyPEM(k, v.opts.BaseDir) // read, not parsed: this runs for every cached verdict
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(bytes.TrimSpace(pem))
		keys = append(keys, hex.EncodeToString(sum[:]))
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte("key " + k + "\n"))
	}
	if needsRoot(rule) {
		if v.opts.TrustedRootFile != "" {
			b, err := os.ReadFile(v.opts.TrustedRootFile)
			if err != nil {
				return "", fmt.Errorf("reading the trusted root: %v", err)
			}
			h.Write([]byte("root\x00"))
			h.Write(b)
		} else {
			h.Write([]byte("root: TrustedRoot\n")) // the public-good root, updated by TUF only
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// needsRoot: keyless identities, and keys whose signatures are checked in the transparency log.
func needsRoot(rule *policy.SignatureRule) bool { return len(rule.Keyless) > 0 || !rule.IgnoreTlog }

// root is the trust material: the trusted root file as it is now, else TrustedRoot's.
func (v *Verifier) root() (root.TrustedMaterial, error) {
	if v.opts.TrustedRootFile == "" {
		return v.trustedRoot()
	}
	b, err := os.ReadFile(v.opts.TrustedRootFile)
	if err != nil {
		return nil, fmt.Errorf("reading the trusted root: %v", err)
	}
	tm, err := parseOnce(v, b, func() (root.TrustedMaterial, error) { return root.NewTrustedRootFromJSON(b) })
	if err != nil {
		return nil, fmt.Errorf("reading the trusted root %s: %v", v.opts.TrustedRootFile, err)
	}
	return tm, nil
}

// parseOnce parses content once per process (per distinct content).
func parseOnce[T any](v *Verifier, content []byte, parse func() (T, error)) (T, error) {
	sum := sha256.Sum256(content)
	v.mu.Lock()
	p, ok := v.parsed[sum]
	v.mu.Unlock()
	if ok {
		return p.(T), nil
	}
	t, err := parse()
	if err != nil {
		return t, err
	}
	v.mu.Lock()
	if len(v.parsed) >= maxParsed {
		clear(v.parsed)
	}
	v.parsed[sum] = t
	v.mu.Unlock()
	return t, nil
}

// Verify requires a signature by one of the rule's keys or keyless identities on the image
// digest, and a signed attestation of every type asked for, by the same signers.
func (v *Verifier) Verify(ctx context.Context, ref string, digest v1.Hash, rule *policy.SignatureRule, atts []policy.AttestationRule) (*images.Verification, error) {
	if rule == nil || (len(rule.Keys) == 0 && len(rule.Keyless) == 0) {
		return nil, errors.New("the policy asks for attestations but names no key or keyless identity to verify them with")
	}
	parsed, err := v.opts.Parse(ref)
	if err != nil {
		return nil, err
	}
	digestRef := parsed.Context().Digest(digest.String())
	regOpts := v.registryOptions(ctx)
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
	key      string                  // a key reference, when identity is nil
	identity *policy.KeylessIdentity // a keyless identity
}

func (v *Verifier) authorities(rule *policy.SignatureRule) []authority {
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

func (v *Verifier) checkOpts(a authority, rule *policy.SignatureRule, regOpts []ociremote.Option, newFormat bool) (*cosign.CheckOpts, error) {
	co := &cosign.CheckOpts{RegistryClientOpts: regOpts, IgnoreTlog: rule.IgnoreTlog, NewBundleFormat: newFormat}
	if a.identity == nil {
		sv, err := v.loadKey(a.key)
		if err != nil {
			return nil, err
		}
		co.SigVerifier = sv
		co.IgnoreSCT = true
	} else {
		co.Identities = []cosign.Identity{{Issuer: a.identity.Issuer, IssuerRegExp: a.identity.IssuerRegExp,
			Subject: a.identity.Subject, SubjectRegExp: a.identity.SubjectRegExp}}
		co.IgnoreSCT = v.opts.ignoreSCT
		// Keyless trust rests on the transparency log's time (or a TSA's): ignoreTlog
		// applies to private keys only.
		co.IgnoreTlog = false
	}
	if a.identity != nil || !co.IgnoreTlog {
		tm, err := v.root()
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

func verifyWith(ctx context.Context, digestRef name.Digest, co *cosign.CheckOpts, newFormat bool, atts []policy.AttestationRule) (*images.Verification, error) {
	var verified []oci.Signature
	if newFormat {
		all, _, err := cosign.VerifyImageAttestations(ctx, digestRef, co)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(all, func(s oci.Signature) bool { typ, _ := predicateType(s); return typ == SignPredicate }) {
			return nil, errors.New("the bundles verified hold attestations but no signature")
		}
		verified = all
	} else {
		if _, _, err := cosign.VerifyImageSignatures(ctx, digestRef, co); err != nil {
			return nil, err
		}
		if len(atts) > 0 {
			// A classic attestation (.att tag) is an in-toto statement: its claim is the
			// subject's digest, as cosign verify-attestation checks it.
			aco := *co
			aco.ClaimVerifier = cosign.IntotoSubjectClaimVerifier
			classic, _, err := cosign.VerifyImageAttestations(ctx, digestRef, &aco)
			if err != nil {
				return nil, fmt.Errorf("attestations: %v", err)
			}
			verified = classic
		}
	}
	res := &images.Verification{}
	for _, want := range atts {
		found := false
		uri := PredicateURI(want.Type)
		for _, s := range verified {
			if typ, err := predicateType(s); err == nil && typ == uri {
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

// predicateURIs are cosign's short names of predicate types (cosign attest --type) and the
// URIs they stand for, as cosign's CLI options define them; that package is not linked:
// it brings the CLI's cloud credential helpers (AWS, Azure, Google SDKs) with it.
var predicateURIs = map[string]string{
	"custom":           attestation.CosignCustomProvenanceV01,
	"slsaprovenance":   slsa02.PredicateSLSAProvenance,
	"slsaprovenance02": slsa02.PredicateSLSAProvenance,
	"slsaprovenance1":  slsa1.PredicateSLSAProvenance,
	"spdx":             in_toto.PredicateSPDX,
	"spdxjson":         in_toto.PredicateSPDX,
	"cyclonedx":        in_toto.PredicateCycloneDX,
	"link":             in_toto.PredicateLinkV1,
	"vuln":             attestation.CosignVulnProvenanceV01,
	"openvex":          attestation.OpenVexNamespace,
}

// PredicateURI is the predicate type an attestation rule's type names: a cosign short name,
// or a URI as it is.
func PredicateURI(typ string) string {
	if uri, ok := predicateURIs[typ]; ok {
		return uri
	}
	return typ
}

// predicateType reads the in-toto predicate type of a verified DSSE attestation.
func predicateType(s oci.Signature) (string, error) {
	typ, _, err := statement(s)
	return typ, err
}

// statement reads a verified DSSE attestation: the envelope's base64 payload, an in-toto
// statement, and its predicate type.
func statement(s oci.Signature) (string, []byte, error) {
	p, err := s.Payload()
	if err != nil {
		return "", nil, err
	}
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(p, &env); err != nil || env.Payload == "" {
		return "", nil, fmt.Errorf("not a DSSE envelope")
	}
	decoded, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return "", nil, err
	}
	var st attestation.Statement
	if err := st.UnmarshalJSON(decoded); err != nil {
		return "", nil, err
	}
	return st.PredicateType, decoded, nil
}

// loadKey reads a public key (a file relative to the policy, or env://VAR) as it is now.
func (v *Verifier) loadKey(ref string) (signature.Verifier, error) {
	pem, pub, err := policy.ReadKey(ref, v.opts.BaseDir)
	if err != nil {
		return nil, err
	}
	return parseOnce(v, pem, func() (signature.Verifier, error) { return signature.LoadVerifier(pub, crypto.SHA256) })
}
