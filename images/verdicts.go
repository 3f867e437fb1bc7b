package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/gate/policy"
)

// VerdictPredicateType is the in-toto predicate type of kubegate's verdict attestations:
// signed statements that an image passed the image checks under an image policy.
const VerdictPredicateType = "https://kubegate.dev/attestations/verdict/v1"

// VerdictPredicate is what a verdict attestation says about its subject, an image digest.
// The JSON schema is docs/schemas/verdict-v1.json.
type VerdictPredicate struct {
	Image           VerdictImage            `json:"image"`
	Policy          VerdictPolicy           `json:"policy"`
	Kubegate        VerdictTool             `json:"kubegate"`
	DB              *VerdictDB              `json:"db,omitempty"` // nil: the policy does not scan it
	Signatures      VerdictSignatures       `json:"signatures"`
	Vulnerabilities *VerdictVulnerabilities `json:"vulnerabilities,omitempty"`
	EvaluatedAt     time.Time               `json:"evaluatedAt"`
}

// VerdictImage is the image judged: digest, the platform images checked, their config
// users (so that the root-user check, which depends on the pod, is made by the reader)
// and the OS.
type VerdictImage struct {
	Digest    string   `json:"digest"`
	Platforms []string `json:"platforms"`
	Users     []string `json:"users"`
	OS        string   `json:"os,omitempty"`
}

// VerdictPolicy is the image policy that judged: the digest of its canonical form (the
// image rule that applied, the content of its keys and trusted root, the platforms and
// the vulnerability ignores live at the time).
type VerdictPolicy struct {
	Digest string `json:"digest"`
}

// VerdictTool is the kubegate that judged.
type VerdictTool struct {
	Version string `json:"version"`
}

// VerdictDB is the vulnerability DB the image was scanned with.
type VerdictDB struct {
	Version   string    `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// VerdictSignatures are the signature and attestation checks that passed: by whom, of
// which predicate types.
type VerdictSignatures struct {
	SignedBy []string `json:"signedBy"`
	Attested []string `json:"attested"`
}

// VerdictVulnerabilities counts what the scan found, by severity, and the IDs the policy
// ignored.
type VerdictVulnerabilities struct {
	Counts  map[string]int `json:"counts"`
	Ignored []string       `json:"ignored"`
}

// SignedStatement is an in-toto statement whose signature verified, and its signer.
type SignedStatement struct {
	Signer    string
	Statement []byte
}

// VerdictSource finds the verdict attestations of an image digest signed by one of
// trust's keys or identities, with their signatures verified.
type VerdictSource interface {
	Verdicts(ctx context.Context, ref string, digest v1.Hash, trust *policy.SignatureRule) ([]SignedStatement, error)
}

// Passed says whether the verdict is one to attest: every image check was made and
// passed, under a known image policy. Root-user problems depend on the pod, not the image,
// and do not count.
func (v *Verdict) Passed() bool {
	return v.Digest != "" && v.PolicyDigest != "" && v.Reused == "" &&
		!slices.ContainsFunc(v.Problems, func(p Problem) bool { return !p.RootUser })
}

// Predicate is the verdict as a verdict attestation's predicate, made at now by version.
func (v *Verdict) Predicate(version string, now time.Time) VerdictPredicate {
	p := VerdictPredicate{
		Image:       VerdictImage{Digest: v.Digest, Users: v.Users, OS: v.OS},
		Policy:      VerdictPolicy{Digest: v.PolicyDigest},
		Kubegate:    VerdictTool{Version: version},
		Signatures:  VerdictSignatures{SignedBy: nonNil(v.SignedBy), Attested: nonNil(v.Attested)},
		EvaluatedAt: now.UTC(),
	}
	for _, pl := range v.Platforms {
		p.Image.Platforms = append(p.Image.Platforms, pl.String())
	}
	if v.Scanned {
		p.DB = &VerdictDB{Version: v.DB.Version, UpdatedAt: v.DB.UpdatedAt.UTC()}
		p.Vulnerabilities = &VerdictVulnerabilities{Counts: v.Counts, Ignored: nonNil(v.Ignored)}
	}
	return p
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// policyDigest is the digest of the image policy's canonical form for an image under k's
// rule: what judges the image and nothing else — not the rule's match globs, the paths or
// order of its keys (Trust is their content), nor the order of lists whose order does not
// matter — so that two policies that judge images the same way have the same digest.
func policyDigest(k keyParts) string {
	type canonical struct {
		V            string   `json:"v"`
		Signature    bool     `json:"signature"`
		Trust        string   `json:"trust,omitempty"`
		Keyless      []string `json:"keyless,omitempty"`
		IgnoreTlog   bool     `json:"ignoreTlog,omitempty"`
		Attestations []string `json:"attestations,omitempty"`
		Scan         bool     `json:"scan"`
		FailOn       string   `json:"failOn,omitempty"`
		IgnoreFixed  bool     `json:"ignoreUnfixed,omitempty"`
		Ignores      []string `json:"ignores,omitempty"`
		Platforms    []string `json:"platforms,omitempty"`
	}
	c := canonical{V: cacheVersion, Trust: k.Trust}
	if s := k.Rule.Signature; s != nil {
		c.Signature, c.IgnoreTlog = true, s.IgnoreTlog
		for _, id := range s.Keyless {
			b, _ := json.Marshal(id)
			c.Keyless = append(c.Keyless, string(b))
		}
	}
	for _, a := range k.Rule.Attestations {
		c.Attestations = append(c.Attestations, strings.ToLower(a.Type))
	}
	if vr := scanning(k.Rule); vr != nil {
		threshold, _ := thresholdOf(vr.FailOn)
		c.Scan, c.FailOn, c.IgnoreFixed, c.Ignores = true, threshold.String(), vr.IgnoreUnfixed, slices.Clone(k.LiveIgnores)
	}
	for _, p := range k.Platforms {
		c.Platforms = append(c.Platforms, p.String())
	}
	for _, l := range [][]string{c.Keyless, c.Attestations, c.Ignores, c.Platforms} {
		slices.Sort(l)
	}
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// verdictClockSkew is how far in the future a verdict's time may be (another runner's
// clock).
const verdictClockSkew = 5 * time.Minute

// reuse returns the verdict of a verdict attestation on the image's digest when one is
// valid: signed by a trusted key or identity (VerdictSource verified it), made under an
// image policy with this digest, at most maxAge ago, and about this digest. Any doubt —
// none found, another policy, too old, unreadable — returns nil and why: the image is then
// checked in full.
func (c *Checker) reuse(ctx context.Context, im *Image, digest v1.Hash, policyDigest string) (*Verdict, string) {
	trust := c.images().Verdicts
	found, err := c.Verdicts.Verdicts(ctx, im.Ref, digest, &trust.Trust)
	if err != nil {
		return nil, fmt.Sprintf("verdict attestations of %s: %v", withDigest(im.Ref, digest.String()), err)
	}
	var best *VerdictPredicate
	var signer, why string
	for _, s := range found {
		p, err := parseVerdict(s.Statement, digest)
		switch {
		case err != nil:
			why = err.Error()
		case p.Policy.Digest != policyDigest:
			why = "made under another image policy (" + p.Policy.Digest + ")"
		case c.now().Sub(p.EvaluatedAt) > trust.MaxAgeOrDefault():
			why = fmt.Sprintf("made %s, older than maxAge %s", p.EvaluatedAt.Format(time.RFC3339), trust.MaxAgeOrDefault())
		case p.EvaluatedAt.Sub(c.now()) > verdictClockSkew:
			why = "made in the future (" + p.EvaluatedAt.Format(time.RFC3339) + ")"
		case best == nil || p.EvaluatedAt.After(best.EvaluatedAt):
			best, signer = p, s.Signer
		}
	}
	if best == nil {
		if why == "" {
			why = "none signed by a trusted key or identity"
		}
		return nil, fmt.Sprintf("no verdict attestation of %s used: %s", withDigest(im.Ref, digest.String()), why)
	}
	v := &Verdict{Image: im, Digest: digest.String(), Users: best.Image.Users, OS: best.Image.OS,
		SignedBy: best.Signatures.SignedBy, Attested: best.Signatures.Attested, PolicyDigest: policyDigest,
		Reused: reusedNote(signer, c.now().Sub(best.EvaluatedAt)), evaluated: best.EvaluatedAt, signer: signer}
	for _, s := range best.Image.Platforms {
		pl, err := v1.ParsePlatform(s)
		if err != nil {
			return nil, fmt.Sprintf("verdict attestation of %s: platform %q: %v", im.Ref, s, err)
		}
		v.Platforms = append(v.Platforms, *pl)
	}
	if best.DB != nil {
		v.Scanned, v.DB = true, DBInfo{Version: best.DB.Version, UpdatedAt: best.DB.UpdatedAt}
	}
	if best.Vulnerabilities != nil {
		v.Counts, v.Ignored = best.Vulnerabilities.Counts, best.Vulnerabilities.Ignored
	}
	v.rootUserProblem(nil)
	return v, ""
}

// reusedNote is what the report says of a verdict taken from an attestation.
func reusedNote(signer string, age time.Duration) string {
	return fmt.Sprintf("verified verdict from %s, %s old", signer, age.Round(time.Minute))
}

// parseVerdict reads a verdict statement about digest.
func parseVerdict(stmt []byte, digest v1.Hash) (*VerdictPredicate, error) {
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate VerdictPredicate `json:"predicate"`
	}
	if err := json.Unmarshal(stmt, &st); err != nil {
		return nil, fmt.Errorf("unreadable statement: %v", err)
	}
	if st.PredicateType != VerdictPredicateType {
		return nil, fmt.Errorf("predicate type %q", st.PredicateType)
	}
	if len(st.Subject) != 1 || st.Subject[0].Digest[digest.Algorithm] != digest.Hex || st.Predicate.Image.Digest != digest.String() {
		return nil, fmt.Errorf("about another image than %s", digest)
	}
	if st.Predicate.Policy.Digest == "" || st.Predicate.EvaluatedAt.IsZero() {
		return nil, fmt.Errorf("no policy digest or time")
	}
	return &st.Predicate, nil
}

// Statement is an in-toto v1 statement about the image digest.
func Statement(d name.Digest, predicateType string, predicate any) ([]byte, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	if predicate == nil {
		predicate = map[string]any{}
	}
	return json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": d.Repository.Name(), "digest": map[string]string{h.Algorithm: h.Hex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
}
