package policy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/internal/glob"
)

// KeyDir is where relative key paths of images.rules are found: the policy file's directory.
func (p *Policy) KeyDir() string {
	if p.File == "" {
		return ""
	}
	return filepath.Dir(p.File)
}

// ParsedPlatforms are images.platforms parsed (they were validated when the policy was
// loaded); nil when the policy names none.
func (i *Images) ParsedPlatforms() []v1.Platform {
	var out []v1.Platform
	for _, s := range i.Platforms {
		if pl, err := v1.ParsePlatform(s); err == nil {
			out = append(out, *pl)
		}
	}
	return out
}

// validateImages checks images.rules, images.defaultRule and images.platforms; line finds
// the line of a field path.
func (p *Policy) validateImages(line func(string) int) {
	errAt := p.errorsAt(line)
	for i, s := range p.Images.Platforms {
		if _, err := v1.ParsePlatform(s); err != nil || !strings.Contains(s, "/") {
			errAt(fmt.Sprintf("images.platforms[%d]", i), "images.platforms: want os/architecture such as linux/amd64, got %q", s)
		}
	}
	for i := range p.Images.Rules {
		at := fmt.Sprintf("images.rules[%d]", i)
		r := &p.Images.Rules[i]
		if len(r.Match) == 0 {
			errAt(at, "an image rule needs match: globs such as ghcr.io/acme/**")
		}
		for j, g := range r.Match {
			if !glob.Valid(g) || strings.TrimSpace(g) == "" {
				errAt(fmt.Sprintf("%s.match[%d]", at, j), "bad glob %q", g)
			}
		}
		p.validateImageRule(r, at, line)
	}
	if v := p.Images.Verdicts; v != nil {
		p.validateSignatureRule(&v.Trust, "images.verdicts.trust", "images.verdicts.trust", line)
	}
	if r := p.Images.DefaultRule; r != nil {
		if len(r.Match) > 0 {
			errAt("images.defaultRule.match", "the default rule applies to every image no rule matches: it takes no match")
		}
		p.validateImageRule(r, "images.defaultRule", line)
	}
}

// validateImageRule checks one image rule. Its key files are read now: a key that is
// missing or is not a public key is a policy error, not a finding on every image.
func (p *Policy) validateImageRule(r *ImageRule, at string, line func(string) int) {
	errAt := p.errorsAt(line)
	if s := r.Signature; s != nil {
		p.validateSignatureRule(s, at+".signature", "signature", line)
	}
	for k, a := range r.Attestations {
		if strings.TrimSpace(a.Type) == "" {
			errAt(fmt.Sprintf("%s.attestations[%d]", at, k), "an attestation needs a type: slsaprovenance, cyclonedx, spdxjson, vuln or a predicate URI")
		}
	}
	if len(r.Attestations) > 0 && r.Signature == nil {
		errAt(at+".attestations", "attestations are verified with the rule's signature keys or identities: add signature")
	}
	if v := r.Vulnerabilities; v != nil {
		if v.FailOn != "" && !strings.EqualFold(v.FailOn, "off") {
			if sev, err := finding.ParseSeverity(v.FailOn); err != nil || sev == finding.Info {
				errAt(at+".vulnerabilities.failOn", "failOn must be critical, high, medium, low or off, got %q", v.FailOn)
			}
		}
		for k, ig := range v.Ignore {
			iat := fmt.Sprintf("%s.vulnerabilities.ignore[%d]", at, k)
			if _, ok := ig.ExpiresAt(); !ok {
				errAt(iat, "an ignored vulnerability needs expires: a date like 2027-01-31, got %q", ig.Expires)
			}
			if ig.ID == "" || strings.TrimSpace(ig.Reason) == "" {
				errAt(iat, "an ignored vulnerability needs an id and a reason")
			}
		}
	}
}

// errorsAt records policy errors at the line of a field path.
// validateSignatureRule checks the keys and keyless identities of a signature rule (at is
// its field path, what its name in messages): key files are read now.
func (p *Policy) validateSignatureRule(s *SignatureRule, at, what string, line func(string) int) {
	errAt := p.errorsAt(line)
	if len(s.Keys) == 0 && len(s.Keyless) == 0 {
		errAt(at, "%s needs keys (PEM files or env://VAR) or keyless identities", what)
	}
	for k, key := range s.Keys {
		path := fmt.Sprintf("%s.keys[%d]", at, k)
		if strings.HasPrefix(key, "env://") && key != "env://" {
			// Read when images are checked: a local --offline run or a pre-push hook
			// need not have the CI's variables.
			p.envKeys = append(p.envKeys, envKey{ref: key, line: line(path)})
			continue
		}
		if _, _, err := ReadKey(key, p.KeyDir()); err != nil {
			errAt(path, "key %q: %v", key, err)
		}
	}
	for k, id := range s.Keyless {
		kat := fmt.Sprintf("%s.keyless[%d]", at, k)
		if (id.Issuer == "") == (id.IssuerRegExp == "") || (id.Subject == "") == (id.SubjectRegExp == "") {
			errAt(kat, "a keyless identity needs one of issuer/issuerRegExp and one of subject/subjectRegExp")
		}
		for _, re := range []string{id.IssuerRegExp, id.SubjectRegExp} {
			if _, err := regexp.Compile(re); err != nil {
				errAt(kat, "bad regular expression %q: %v", re, err)
			}
		}
	}
}

func (p *Policy) errorsAt(line func(string) int) func(path, format string, args ...any) {
	return func(path, format string, args ...any) {
		p.problems = append(p.problems, &Error{File: p.File, Line: line(path), Msg: fmt.Sprintf(format, args...)})
	}
}

// envKey is a key given as env://VAR, and the line of the policy that names it.
type envKey struct {
	ref  string
	line int
}

// CheckEnvKeys reads the env://VAR keys of images.rules, as the image stage is about to
// use them: an empty variable or one that holds no public key is a policy error at the
// key's line.
func (p *Policy) CheckEnvKeys() error {
	for _, k := range p.envKeys {
		if _, _, err := ReadKey(k.ref, ""); err != nil {
			return &Error{File: p.File, Line: k.line, Msg: fmt.Sprintf("key %q: %v", k.ref, err)}
		}
	}
	return nil
}
