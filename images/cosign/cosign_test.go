package cosign

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v3/cmd/cosign/cli/options"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/imagetest"
)

type fixture struct {
	reg      *imagetest.Registry
	verifier *Verifier
	signer   *imagetest.Signer
	keyFile  string
	other    string // a key that signed nothing
}

func setup(t *testing.T) *fixture {
	t.Helper()
	reg := imagetest.NewRegistry()
	t.Cleanup(reg.Close)
	dir := t.TempDir()
	f := &fixture{reg: reg, keyFile: filepath.Join(dir, "cosign.pub"), other: filepath.Join(dir, "other.pub")}
	var err error
	if f.signer, err = imagetest.NewSigner(); err != nil {
		t.Fatal(err)
	}
	other, _ := imagetest.NewSigner()
	for path, s := range map[string]*imagetest.Signer{f.keyFile: f.signer, f.other: other} {
		pem, _ := s.PublicKeyPEM()
		os.WriteFile(path, pem, 0o644)
	}
	f.verifier = New(Options{
		Parse: func(ref string) (name.Reference, error) { return name.ParseReference(ref, name.Insecure) },
		// No test may reach the public-good TUF root.
		TrustedRoot: func() (root.TrustedMaterial, error) { return nil, errors.New("offline test: no trusted root") },
	})
	return f
}

func (f *fixture) push(t *testing.T, repo string) name.Digest {
	t.Helper()
	img, _ := imagetest.Image(map[string]string{"etc/" + repo: repo}, "1000", "linux/amd64")
	d, err := f.reg.Push(repo+":1", img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) verify(d name.Digest, rule *policy.SignatureRule, atts ...policy.AttestationRule) (*images.Verification, error) {
	h, _ := v1.NewHash(d.DigestStr())
	return f.verifier.Verify(context.Background(), d.Repository.Name()+":1", h, rule, atts)
}

func TestVerify(t *testing.T) {
	f := setup(t)
	classic := f.push(t, "classic")
	if err := f.signer.SignClassic(f.reg, classic); err != nil {
		t.Fatal(err)
	}
	bundled := f.push(t, "bundled")
	if err := f.signer.Attest(f.reg, bundled, SignPredicate, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.signer.Attest(f.reg, bundled, "https://slsa.dev/provenance/v0.2", map[string]any{"builder": map[string]any{"id": "ci"}}); err != nil {
		t.Fatal(err)
	}
	attOnly := f.push(t, "attonly")
	if err := f.signer.Attest(f.reg, attOnly, "https://slsa.dev/provenance/v0.2", nil); err != nil {
		t.Fatal(err)
	}
	unsigned := f.push(t, "unsigned")
	// cosign attest --new-bundle-format=false: a DSSE envelope in the .att tag.
	classicAtt := f.push(t, "classicatt")
	if err := f.signer.SignClassic(f.reg, classicAtt); err != nil {
		t.Fatal(err)
	}
	if err := f.signer.AttestClassic(f.reg, classicAtt, "https://slsa.dev/provenance/v0.2", map[string]any{"builder": map[string]any{"id": "ci"}}); err != nil {
		t.Fatal(err)
	}

	key := &policy.SignatureRule{Keys: []string{f.keyFile}, IgnoreTlog: true}
	wrongKey := &policy.SignatureRule{Keys: []string{f.other}, IgnoreTlog: true}
	slsa := policy.AttestationRule{Type: "slsaprovenance"}
	for _, tc := range []struct {
		name string
		d    name.Digest
		rule *policy.SignatureRule
		atts []policy.AttestationRule
		want string // "" = verified
	}{
		{"classic signature, right key", classic, key, nil, ""},
		{"bundle signature and provenance, right key", bundled, key, []policy.AttestationRule{slsa}, ""},
		{"classic signature, wrong key", classic, wrongKey, nil, "no valid signature (classic .sig signatures checked): key " + f.other + ":"},
		{"bundle, wrong key", bundled, wrongKey, nil, "no valid signature (2 Sigstore bundle(s) checked): key " + f.other + ":"},
		{"unsigned", unsigned, key, nil, "no valid signature (classic .sig signatures checked): key " + f.keyFile + ": no signatures found"},
		{"attestation but no signature", attOnly, key, nil, "the bundles verified hold attestations but no signature"},
		{"classic signature, attestation missing", classic, key, []policy.AttestationRule{slsa}, "attestations:"},
		{"classic signature and classic provenance", classicAtt, key, []policy.AttestationRule{slsa}, ""},
		{"classic provenance, wrong key", classicAtt, wrongKey, []policy.AttestationRule{slsa}, "no valid signature (classic .sig signatures checked): key " + f.other},
		{"classic attestation of another type", classicAtt, key, []policy.AttestationRule{{Type: "cyclonedx"}}, "no signed cyclonedx attestation"},
		{"bundle, attestation type missing", bundled, key, []policy.AttestationRule{{Type: "cyclonedx"}}, "no signed cyclonedx attestation"},
		{"key file missing", classic, &policy.SignatureRule{Keys: []string{"/nonexistent.pub"}, IgnoreTlog: true}, nil, "reading the public key /nonexistent.pub: no such file or directory"},
		{"empty key reference", classic, &policy.SignatureRule{Keys: []string{""}, IgnoreTlog: true}, nil, "key : empty key reference"},
		{"transparency log required but no trusted root", classic, &policy.SignatureRule{Keys: []string{f.keyFile}}, nil, "loading the Sigstore trusted root: offline test: no trusted root"},
		{"keyless without a trusted root", bundled, &policy.SignatureRule{Keyless: []policy.KeylessIdentity{{Issuer: "https://token.actions.githubusercontent.com", SubjectRegExp: "^https://github.com/acme/"}}}, nil,
			"keyless ~^https://github.com/acme/ (https://token.actions.githubusercontent.com): loading the Sigstore trusted root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := f.verify(tc.d, tc.rule, tc.atts...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("not verified: %v", err)
				}
				if len(v.SignedBy) != 1 || v.SignedBy[0] != "key "+f.keyFile || len(v.Attestations) != len(tc.atts) {
					t.Errorf("verification = %+v", v)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTamperedSignatureFails(t *testing.T) {
	f := setup(t)
	a, b := f.push(t, "a"), f.push(t, "b")
	// A valid signature of a, copied onto b: the payload names another digest.
	if err := f.signer.SignClassic(f.reg, a); err != nil {
		t.Fatal(err)
	}
	src, _ := name.ParseReference(f.reg.Host()+"/a:"+strings.Replace(a.DigestStr(), ":", "-", 1)+".sig", name.Insecure)
	dst, _ := name.ParseReference(f.reg.Host()+"/b:"+strings.Replace(b.DigestStr(), ":", "-", 1)+".sig", name.Insecure)
	if err := copyImage(src, dst); err != nil {
		t.Fatal(err)
	}
	_, err := f.verify(b, &policy.SignatureRule{Keys: []string{f.keyFile}, IgnoreTlog: true})
	if err == nil || !strings.Contains(err.Error(), "no valid signature") {
		t.Fatalf("a signature of another image verified: %v", err)
	}
}

// TestKeyRotation: the verifier reads keys at every use, so a long-running process (the
// webhook) follows a key replaced under the same path, and Trust tells the contents apart.
func TestKeyRotation(t *testing.T) {
	f := setup(t)
	d := f.push(t, "rotated")
	if err := f.signer.SignClassic(f.reg, d); err != nil {
		t.Fatal(err)
	}
	rule := &policy.SignatureRule{Keys: []string{f.keyFile}, IgnoreTlog: true}
	before, err := f.verifier.Trust(rule)
	if _, verr := f.verify(d, rule); err != nil || verr != nil {
		t.Fatalf("before rotation: %v %v", err, verr)
	}
	other, _ := os.ReadFile(f.other)
	os.WriteFile(f.keyFile, other, 0o644)
	after, err := f.verifier.Trust(rule)
	if err != nil || after == before {
		t.Fatalf("Trust did not change with the key's content: %v", err)
	}
	if _, err := f.verify(d, rule); err == nil || !strings.Contains(err.Error(), "no valid signature") {
		t.Fatalf("a revoked key still verifies: %v", err)
	}
	os.Remove(f.keyFile)
	if _, err := f.verifier.Trust(rule); err == nil {
		t.Fatal("Trust of a missing key")
	}
}

// TestTrustCoversTheTrustedRoot: a trusted root file replaced in place changes Trust, so
// verdicts made under the old root are not served from the cache.
func TestTrustCoversTheTrustedRoot(t *testing.T) {
	f := setup(t)
	file := filepath.Join(t.TempDir(), "trusted_root.json")
	os.WriteFile(file, []byte(`{"mediaType":"one"}`), 0o644)
	v := New(Options{TrustedRootFile: file})
	keyless := &policy.SignatureRule{Keyless: []policy.KeylessIdentity{{Issuer: "i", Subject: "s"}}}
	withTlog := &policy.SignatureRule{Keys: []string{f.keyFile}}
	noTlog := &policy.SignatureRule{Keys: []string{f.keyFile}, IgnoreTlog: true}
	before := map[*policy.SignatureRule]string{}
	for _, r := range []*policy.SignatureRule{keyless, withTlog, noTlog} {
		before[r], _ = v.Trust(r)
	}
	os.WriteFile(file, []byte(`{"mediaType":"two"}`), 0o644)
	for r, changes := range map[*policy.SignatureRule]bool{keyless: true, withTlog: true, noTlog: false} {
		if after, err := v.Trust(r); err != nil || (after != before[r]) != changes {
			t.Errorf("rule %+v: Trust changed %v, want %v (%v)", r, after != before[r], changes, err)
		}
	}
	os.Remove(file)
	if _, err := v.Trust(keyless); err == nil || !strings.Contains(err.Error(), "reading the trusted root") {
		t.Errorf("trusted root gone: %v", err)
	}
}

// TestTrustIsTheKeysContent: the same key under another path, or keys in another order,
// are the same trust; another key, or the same path with new content, is not.
func TestTrustIsTheKeysContent(t *testing.T) {
	f := setup(t)
	dir := t.TempDir()
	pem, _ := os.ReadFile(f.keyFile)
	copied := filepath.Join(dir, "copy.pub")
	os.WriteFile(copied, pem, 0o644)
	other, _ := imagetest.NewSigner()
	otherPEM, _ := other.PublicKeyPEM()
	otherFile := filepath.Join(dir, "other.pub")
	os.WriteFile(otherFile, otherPEM, 0o644)
	v := New(Options{})
	trust := func(keys ...string) string {
		s, err := v.Trust(&policy.SignatureRule{Keys: keys, IgnoreTlog: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if trust(f.keyFile) != trust(copied) || trust(f.keyFile, otherFile) != trust(otherFile, copied) {
		t.Error("the same keys, another path or order: another trust")
	}
	if trust(f.keyFile) == trust(otherFile) {
		t.Error("another key, the same trust")
	}
	before := trust(copied)
	os.WriteFile(copied, otherPEM, 0o644)
	if trust(copied) == before {
		t.Error("a key replaced under its path: the same trust")
	}
}

// TestPredicateURIsAreCosigns: the short names mean what cosign attest --type means.
func TestPredicateURIsAreCosigns(t *testing.T) {
	if !maps.Equal(predicateURIs, options.PredicateTypeMap) {
		t.Errorf("predicate types differ from cosign's:\n%v\n%v", predicateURIs, options.PredicateTypeMap)
	}
	if PredicateURI("https://example.com/p/v1") != "https://example.com/p/v1" {
		t.Error("a URI is not taken as it is")
	}
}
