package policy

import (
	"time"
)

// The images section's rules, in the policy's words: what an image must satisfy. The
// policy validates them when it is loaded; the image stage (package images) applies them.

// ImageRule is one entry of images.rules in kubegate.yaml: what images matching Match must
// satisfy. The image stage (package images) applies it.
type ImageRule struct {
	// Match are globs over the canonical image reference without tag or digest
	// (docker.io/library/nginx, ghcr.io/acme/web): * stays within a path segment,
	// ** crosses segments.
	Match           []string           `yaml:"match" json:"match,omitempty"`
	Signature       *SignatureRule     `yaml:"signature" json:"signature,omitempty"`
	Attestations    []AttestationRule  `yaml:"attestations" json:"attestations,omitempty"`
	Vulnerabilities *VulnerabilityRule `yaml:"vulnerabilities" json:"vulnerabilities,omitempty"`
}

// SignatureRule requires a cosign signature by one of the keys or keyless identities.
type SignatureRule struct {
	Keys       []string          `yaml:"keys" json:"keys,omitempty"` // PEM files, or env://VAR
	Keyless    []KeylessIdentity `yaml:"keyless" json:"keyless,omitempty"`
	IgnoreTlog bool              `yaml:"ignoreTlog" json:"ignoreTlog,omitempty"` // private keys signed without Rekor
}

// KeylessIdentity is a Fulcio certificate identity: the OIDC issuer and the subject
// (exact, or a regular expression).
type KeylessIdentity struct {
	Issuer        string `yaml:"issuer" json:"issuer,omitempty"`
	IssuerRegExp  string `yaml:"issuerRegExp" json:"issuerRegExp,omitempty"`
	Subject       string `yaml:"subject" json:"subject,omitempty"`
	SubjectRegExp string `yaml:"subjectRegExp" json:"subjectRegExp,omitempty"`
}

func (k KeylessIdentity) String() string {
	subject, issuer := k.Subject, k.Issuer
	if subject == "" {
		subject = "~" + k.SubjectRegExp
	}
	if issuer == "" {
		issuer = "~" + k.IssuerRegExp
	}
	return subject + " (" + issuer + ")"
}

// AttestationRule requires a signed in-toto attestation of a predicate type.
type AttestationRule struct {
	Type string `yaml:"type" json:"type"` // slsaprovenance, cyclonedx, spdxjson, vuln, or a predicate URI
}

// VulnerabilityRule is the vulnerability threshold.
type VulnerabilityRule struct {
	FailOn        string       `yaml:"failOn" json:"failOn,omitempty"` // critical|high|medium|low|off
	IgnoreUnfixed bool         `yaml:"ignoreUnfixed" json:"ignoreUnfixed,omitempty"`
	Ignore        []VulnIgnore `yaml:"ignore" json:"ignore,omitempty"`
}

// VulnIgnore accepts one vulnerability (in one package, when named) until a date.
type VulnIgnore struct {
	ID      string `yaml:"id" json:"id"`
	Package string `yaml:"package" json:"package,omitempty"`
	Reason  string `yaml:"reason" json:"reason"`
	Expires string `yaml:"expires" json:"expires"` // 2027-01-31, the end of that day UTC
}

// ExpiresAt is the end of the expiry day; ok is false when Expires is not a date.
func (v VulnIgnore) ExpiresAt() (t time.Time, ok bool) {
	d, err := time.Parse(time.DateOnly, v.Expires)
	if err != nil {
		return time.Time{}, false
	}
	return d.AddDate(0, 0, 1), true
}
