package images

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/internal/schematest"
)

// fakeVerdicts returns the statements it holds, as verified.
type fakeVerdicts struct {
	found []SignedStatement
	err   error
}

func (f fakeVerdicts) Verdicts(context.Context, string, v1.Hash, *policy.SignatureRule) ([]SignedStatement, error) {
	return f.found, f.err
}

const testDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"

func statementFor(t *testing.T, digest string, mutate func(*VerdictPredicate)) SignedStatement {
	t.Helper()
	v := &Verdict{Digest: digest, Platforms: []Platform{{OS: "linux", Architecture: "amd64"}}, Users: []string{""},
		OS: "debian 12.7", SignedBy: []string{"key cosign.pub"}, Scanned: true, Counts: map[string]int{"LOW": 2},
		Ignored: []string{"CVE-2026-1"}, PolicyDigest: "sha256:" + strings.Repeat("1", 64),
		DB: DBInfo{Version: "2:2026-12-01", UpdatedAt: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)}}
	p := v.Predicate("v1.2.3", time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	if mutate != nil {
		mutate(&p)
	}
	d, _ := name.NewDigest("registry.example/acme/web@" + testDigest)
	stmt, err := Statement(d, VerdictPredicateType, p)
	if err != nil {
		t.Fatal(err)
	}
	return SignedStatement{Signer: "key ci.pub", Statement: stmt}
}

// The predicate kubegate writes is valid against the schema the repository publishes.
func TestVerdictPredicateSchema(t *testing.T) {
	var st struct{ Predicate json.RawMessage }
	json.Unmarshal(statementFor(t, testDigest, nil).Statement, &st)
	schema, _ := filepath.Abs("../docs/schemas/verdict-v1.json")
	schematest.Validate(t, schema, st.Predicate, false)
	// Not scanned: no db, no vulnerabilities, still valid.
	json.Unmarshal(statementFor(t, testDigest, func(p *VerdictPredicate) { p.DB, p.Vulnerabilities = nil, nil }).Statement, &st)
	schematest.Validate(t, schema, st.Predicate, false)
}

func TestReuseOnlyValidVerdicts(t *testing.T) {
	pd := "sha256:" + strings.Repeat("1", 64)
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC) // six hours after the verdicts
	im, _ := NewImage("registry.example/acme/web:1")
	digest, _ := v1.NewHash(testDigest)
	pol := policy.Default()
	pol.Images.Verdicts = &policy.VerdictTrust{Trust: policy.SignatureRule{Keys: []string{"ci.pub"}}}
	reuse := func(found ...SignedStatement) (*Verdict, string) {
		c := &Checker{Policy: pol, Now: now, Verdicts: fakeVerdicts{found: found}}
		return c.reuse(context.Background(), im, digest, pd)
	}
	good := statementFor(t, testDigest, nil)
	v, why := reuse(good)
	if v == nil || v.Reused != "verified verdict from key ci.pub, 6h0m0s old" || v.Digest != testDigest || !v.Scanned ||
		v.DB.Version != "2:2026-12-01" || v.Counts["LOW"] != 2 || len(v.Problems) != 1 || !v.Problems[0].RootUser {
		t.Fatalf("a valid verdict: %+v (%s)", v, why)
	}
	for _, tc := range []struct {
		name string
		s    SignedStatement
		why  string
	}{
		{"another policy", statementFor(t, testDigest, func(p *VerdictPredicate) { p.Policy.Digest = "sha256:" + strings.Repeat("9", 64) }), "made under another image policy"},
		{"too old", statementFor(t, testDigest, func(p *VerdictPredicate) { p.EvaluatedAt = now.Add(-25 * time.Hour) }), "older than maxAge 24h0m0s"},
		{"from the future", statementFor(t, testDigest, func(p *VerdictPredicate) { p.EvaluatedAt = now.Add(time.Hour) }), "made in the future"},
		{"about another image", statementFor(t, "sha256:"+strings.Repeat("3", 64), nil), "about another image"},
		{"another digest inside", statementFor(t, testDigest, func(p *VerdictPredicate) { p.Image.Digest = "sha256:" + strings.Repeat("3", 64) }), "about another image"},
		{"no time", statementFor(t, testDigest, func(p *VerdictPredicate) { p.EvaluatedAt = time.Time{} }), "no policy digest or time"},
		{"unreadable", SignedStatement{Signer: "key ci.pub", Statement: []byte("{not json")}, "unreadable statement"},
	} {
		if v, why := reuse(tc.s); v != nil || !strings.Contains(why, tc.why) {
			t.Errorf("%s: reused %v, why %q", tc.name, v != nil, why)
		}
		// A bad verdict next to a good one does not hide it.
		if v, _ := reuse(tc.s, good); v == nil {
			t.Errorf("%s next to a valid verdict: not reused", tc.name)
		}
	}
	if v, why := reuse(); v != nil || !strings.Contains(why, "none signed by a trusted key or identity") {
		t.Errorf("none: %v %q", v, why)
	}
	c := &Checker{Policy: pol, Now: now, Verdicts: fakeVerdicts{err: errors.New("registry down")}}
	if v, why := c.reuse(context.Background(), im, digest, pd); v != nil || !strings.Contains(why, "registry down") {
		t.Errorf("lookup error: %v %q", v, why)
	}
	// The newest valid verdict wins.
	newer := statementFor(t, testDigest, func(p *VerdictPredicate) { p.EvaluatedAt = now.Add(-time.Hour); p.Image.OS = "debian 12.8" })
	if v, _ := reuse(good, newer); v == nil || v.OS != "debian 12.8" {
		t.Errorf("newest: %+v", v)
	}
}

// Only a verdict every check of which passed is attested; one from an attestation is not
// attested again.
func TestPassed(t *testing.T) {
	for _, tc := range []struct {
		v    Verdict
		want bool
	}{
		{Verdict{Digest: testDigest, PolicyDigest: "sha256:p"}, true},
		{Verdict{Digest: testDigest, PolicyDigest: "sha256:p", Problems: []Problem{{RuleID: "image-runs-as-root", RootUser: true}}}, true},
		{Verdict{Digest: testDigest, PolicyDigest: "sha256:p", Problems: []Problem{{RuleID: "image-vulnerable"}}}, false},
		{Verdict{Digest: testDigest, PolicyDigest: "sha256:p", Reused: "verified verdict from key ci.pub, 1h0m0s old"}, false},
		{Verdict{Digest: testDigest}, false}, // no image policy (a key that did not read): a reader could never use it
		{Verdict{}, false},
	} {
		if got := tc.v.Passed(); got != tc.want {
			t.Errorf("%+v: Passed %v", tc.v, got)
		}
	}
}

// Two policies that judge an image the same way have one digest; any change that judges
// it differently makes another.
func TestPolicyDigestIsCanonical(t *testing.T) {
	rule := func(mut func(*policy.ImageRule)) keyParts {
		r := &policy.ImageRule{Match: []string{"ghcr.io/acme/**"},
			Signature:       &policy.SignatureRule{Keys: []string{"keys/a.pub"}, Keyless: []policy.KeylessIdentity{{Issuer: "i", Subject: "s1"}, {Issuer: "i", Subject: "s2"}}},
			Attestations:    []policy.AttestationRule{{Type: "slsaprovenance"}, {Type: "spdxjson"}},
			Vulnerabilities: &policy.VulnerabilityRule{FailOn: "high"}}
		k := keyParts{V: cacheVersion, Ref: "ghcr.io/acme/web:1", Trust: "content-of-a", Rule: r,
			Platforms: []Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, LiveIgnores: []string{"CVE-1/", "CVE-2/"}}
		if mut != nil {
			mut(r)
		}
		return k
	}
	base := policyDigest(rule(nil))
	same := map[string]keyParts{
		"other match globs": rule(func(r *policy.ImageRule) { r.Match = []string{"ghcr.io/acme/web"} }),
		"another key path":  rule(func(r *policy.ImageRule) { r.Signature.Keys = []string{"elsewhere/a.pub"} }),
		"identities swapped": rule(func(r *policy.ImageRule) {
			r.Signature.Keyless[0], r.Signature.Keyless[1] = r.Signature.Keyless[1], r.Signature.Keyless[0]
		}),
		"failOn spelled HIGH": rule(func(r *policy.ImageRule) { r.Vulnerabilities.FailOn = "HIGH" }),
	}
	k := rule(nil)
	k.Ref, k.DB = "ghcr.io/acme/api:2", "another DB"
	same["another image, another DB"] = k
	k = rule(nil)
	k.Platforms = []Platform{k.Platforms[1], k.Platforms[0]}
	same["platforms reordered"] = k
	for name, k := range same {
		if d := policyDigest(k); d != base {
			t.Errorf("%s: another digest", name)
		}
	}
	other := map[string]keyParts{
		"another failOn":       rule(func(r *policy.ImageRule) { r.Vulnerabilities.FailOn = "critical" }),
		"ignoreUnfixed":        rule(func(r *policy.ImageRule) { r.Vulnerabilities.IgnoreUnfixed = true }),
		"no signature":         rule(func(r *policy.ImageRule) { r.Signature = nil }),
		"ignoreTlog":           rule(func(r *policy.ImageRule) { r.Signature.IgnoreTlog = true }),
		"another identity":     rule(func(r *policy.ImageRule) { r.Signature.Keyless[1].Subject = "s3" }),
		"one attestation less": rule(func(r *policy.ImageRule) { r.Attestations = r.Attestations[:1] }),
		"no scan":              rule(func(r *policy.ImageRule) { r.Vulnerabilities.FailOn = "off" }),
	}
	k = rule(nil)
	k.Trust = "content-of-b"
	other["another key's content"] = k
	k = rule(nil)
	k.LiveIgnores = k.LiveIgnores[:1]
	other["an ignore expired"] = k
	k = rule(nil)
	k.Platforms = k.Platforms[:1]
	other["one platform"] = k
	for name, k := range other {
		if d := policyDigest(k); d == base {
			t.Errorf("%s: the same digest", name)
		}
	}
}

// An image of a registry reached over plain HTTP is checked in full: a verdict would hide
// the insecure-registry finding. Loopback registries are not such.
func TestNoVerdictsOverPlainHTTP(t *testing.T) {
	pol := policy.Default()
	pol.Images.Verdicts = &policy.VerdictTrust{Trust: policy.SignatureRule{Keys: []string{"ci.pub"}}}
	pol.Images.InsecureRegistries = []string{"registry.example", "127.0.0.1:5000"}
	calls := 0
	c := &Checker{Policy: pol, Verdicts: fakeVerdicts{}, DigestOf: func(context.Context, string) (string, error) { calls++; return testDigest, nil }}
	im, _ := NewImage("registry.example/acme/web:1")
	if v, why := c.attested(context.Background(), im, "sha256:x", c.DigestOf); v != nil || !strings.Contains(why, "reached over plain HTTP") || calls != 0 {
		t.Errorf("plain HTTP: %v %q (%d digest lookups)", v, why, calls)
	}
	im, _ = NewImage("127.0.0.1:5000/acme/web:1")
	if _, why := c.attested(context.Background(), im, "sha256:x", c.DigestOf); strings.Contains(why, "plain HTTP") || calls != 1 {
		t.Errorf("loopback: %q", why)
	}
	for host, want := range map[string]bool{"localhost": true, "reg.localhost:5000": true, "127.0.0.1:5000": true, "[::1]:5000": true, "10.0.0.1:5000": false, "registry.example": false} {
		if Loopback(host) != want {
			t.Errorf("Loopback(%q) = %v", host, !want)
		}
	}
}

// countingVerdicts counts the lookups.
type countingVerdicts struct {
	fakeVerdicts
	calls *int
}

func (c countingVerdicts) Verdicts(ctx context.Context, ref string, d v1.Hash, tr *policy.SignatureRule) ([]SignedStatement, error) {
	*c.calls++
	return c.fakeVerdicts.Verdicts(ctx, ref, d, tr)
}

// A verdict used once is used again for the same digest and policy without asking the
// registry (the webhook's reviews), until it is older than maxAge.
func TestReusedVerdictsAreRemembered(t *testing.T) {
	pd := "sha256:" + strings.Repeat("1", 64)
	pol := policy.Default()
	pol.Images.Verdicts = &policy.VerdictTrust{Trust: policy.SignatureRule{Keys: []string{"ci.pub"}}}
	calls := 0
	c := &Checker{Policy: pol, Now: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC),
		Verdicts: countingVerdicts{fakeVerdicts{found: []SignedStatement{statementFor(t, testDigest, nil)}}, &calls},
		DigestOf: func(context.Context, string) (string, error) { return testDigest, nil }}
	im, _ := NewImage("registry.example/acme/web:1")
	for i := range 3 {
		if v, why := c.attested(context.Background(), im, pd, c.DigestOf); v == nil || v.Image != im || !strings.HasSuffix(v.Reused, "6h0m0s old") {
			t.Fatalf("review %d: %+v %q", i, v, why)
		}
	}
	if calls != 1 {
		t.Errorf("%d lookups for three reviews of one digest", calls)
	}
	// Each review gets a verdict of its own: a problem added to one (a stale DB) is not in
	// the next, even when the remembered problems had room to grow into.
	first, _ := c.attested(context.Background(), im, pd, c.DigestOf)
	first.Problems[0].RuleID = "changed by the first review"
	first.Problems = append(first.Problems, Problem{RuleID: "image-vulnerability-db-stale"})
	if next, _ := c.attested(context.Background(), im, pd, c.DigestOf); len(next.Problems) != 1 || next.Problems[0].RuleID != "image-runs-as-root" {
		t.Errorf("the remembered verdict's problems: %+v", next.Problems)
	}
	c.Now = c.Now.Add(19 * time.Hour) // the verdict is now 25 hours old
	if v, _ := c.attested(context.Background(), im, pd, c.DigestOf); v != nil || calls != 2 {
		t.Errorf("past maxAge: reused %v after %d lookups", v != nil, calls)
	}
}

// trustOf is a Verifier whose trust is a value the test changes.
type trustOf struct {
	Verifier
	trust *string
}

func (t trustOf) Trust(*policy.SignatureRule) (string, error) { return *t.trust, nil }

// A verdict key replaced under its path: the remembered verdict is not used.
func TestRememberedVerdictsFollowTheTrust(t *testing.T) {
	pd := "sha256:" + strings.Repeat("1", 64)
	pol := policy.Default()
	pol.Images.Verdicts = &policy.VerdictTrust{Trust: policy.SignatureRule{Keys: []string{"ci.pub"}}}
	calls, trust := 0, "key A"
	c := &Checker{Policy: pol, Now: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), Verifier: trustOf{trust: &trust},
		Verdicts: countingVerdicts{fakeVerdicts{found: []SignedStatement{statementFor(t, testDigest, nil)}}, &calls},
		DigestOf: func(context.Context, string) (string, error) { return testDigest, nil }}
	im, _ := NewImage("registry.example/acme/web:1")
	c.attested(context.Background(), im, pd, c.DigestOf)
	c.attested(context.Background(), im, pd, c.DigestOf)
	trust = "key B"
	c.attested(context.Background(), im, pd, c.DigestOf)
	if calls != 2 {
		t.Errorf("%d lookups; want 2 (once per trust)", calls)
	}
}
