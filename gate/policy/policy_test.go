package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

const header = "apiVersion: kubegate.dev/v1alpha1\nkind: Policy\n"

func TestParseFull(t *testing.T) {
	p, err := Parse([]byte(header+`kubernetesVersion: "1.36"
failOn: high
profile: baseline
rules:
  disable: [read-only-root-filesystem]
  severity:
    pss-host-ports: critical
exemptions:
  - rule: pss-host-*
    kind: DaemonSet
    namespace: monitoring
    owner: team-obs
    reason: node exporter
    expires: 2027-03-31
`), "kubegate.yaml", testCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	if p.FailOn != finding.High || p.Profile != ProfileBaseline || p.KubernetesVersion != "1.36" ||
		p.Enabled("read-only-root-filesystem") || !p.Enabled("pss-privileged") ||
		p.Rules.Severity["pss-host-ports"] != finding.Critical || p.Exemptions[0].Expires.String() != "2027-03-31" ||
		p.exemptionLines[0] != 11 {
		t.Errorf("parsed %+v", p)
	}
}

// writeKey writes a PEM public key (as cosign generate-key-pair writes it) to dir/name.
func writeKey(t *testing.T, dir, name string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	path := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseImagesAndSettings(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "keys/cosign.pub")
	p, err := Parse([]byte(header+`kubernetesVersion: v1.33.2
images:
  allowedRegistries: [ghcr.io/acme/]
  insecureRegistries: [registry.local:5000]
  requireDigest: true
  rules:
    - match: ["ghcr.io/acme/**"]
      signature:
        keys: ["keys/cosign.pub"]
        keyless: [{issuer: "https://token.actions.githubusercontent.com", subjectRegExp: "^https://github.com/acme/"}]
        ignoreTlog: false
      attestations: [{type: slsaprovenance}]
      vulnerabilities:
        failOn: high
        ignoreUnfixed: true
        ignore: [{id: CVE-2026-1234, package: openssl, reason: "not reachable", expires: 2027-01-31}]
  defaultRule: {vulnerabilities: {failOn: critical}}
  platforms: [linux/s390x]
  allowStaleDB: true
rules:
  settings:
    networkPoliciesElsewhere: [shared-*]
    maxTokenExpirationSeconds: 3600
    trustedNodePools:
      - name: payments
        namespaces: [payments]
        nodeLabels: {pool: payments}
        taints: [{key: dedicated, value: payments, effect: NoSchedule}]
`), filepath.Join(dir, "kubegate.yaml"), testCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	ip := p.Images
	if len(ip.Rules) != 1 || ip.Rules[0].Signature.Keys[0] != "keys/cosign.pub" || ip.Rules[0].Signature.Keyless[0].SubjectRegExp != "^https://github.com/acme/" ||
		ip.Rules[0].Attestations[0].Type != "slsaprovenance" || ip.Rules[0].Vulnerabilities.Ignore[0].Package != "openssl" ||
		ip.DefaultRule.Vulnerabilities.FailOn != "critical" || ip.Platforms[0] != "linux/s390x" || !ip.AllowStaleDB {
		t.Errorf("image policy %+v", ip)
	}
	st := p.Rules.Settings
	if p.KubeMinor() != 33 || !ip.RequireDigest || ip.AllowedRegistries[0] != "ghcr.io/acme/" ||
		ip.InsecureRegistries[0] != "registry.local:5000" || st.MaxTokenExpirationSeconds != 3600 ||
		st.NetworkPoliciesElsewhere[0] != "shared-*" || st.TrustedNodePools[0].Taints[0].Effect != "NoSchedule" {
		t.Errorf("policy %+v", p)
	}
	if got := ip.ParsedPlatforms(); len(got) != 1 || got[0].OS != "linux" || got[0].Architecture != "s390x" {
		t.Errorf("platforms %+v", got)
	}
}

func TestDefaults(t *testing.T) {
	p := Default()
	if p.FailOn != finding.Medium || p.Profile != ProfileRestricted {
		t.Errorf("default %+v", p)
	}
	dir := t.TempDir()
	if p, err := Discover(dir, testCatalogue); err != nil || p.File != "" {
		t.Errorf("no file: %v %+v", err, p)
	}
	os.WriteFile(filepath.Join(dir, "kubegate.yaml"), []byte(header+"failOn: low\n"), 0o644)
	if p, err := Discover(dir, testCatalogue); err != nil || p.FailOn != finding.Low {
		t.Errorf("discovered: %v %+v", err, p)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown key", "failOn: high\nfialOn: low\n", `p.yaml:4: unknown key "fialOn" (in the policy)`},
		{"unknown nested key", "rules:\n  disabled: [x]\n", `p.yaml:4: unknown key "disabled" (in rules)`},
		{"unknown exemption key", "exemptions:\n  - rule: pss-*\n    reasn: x\n", `p.yaml:5: unknown key "reasn" (in an exemption)`},
		{"bad severity", "failOn: severe\n", `p.yaml:3: unknown severity "severe"`},
		{"bad profile", "profile: loose\n", "p.yaml:3: profile must be baseline or restricted"},
		{"bad version", "kubernetesVersion: latest\n", "p.yaml:3: kubernetesVersion must look like 1.37"},
		{"unknown rule", "rules:\n  disable:\n    - pss-privileged\n    - no-such-rule\n", `p.yaml:6: unknown rule "no-such-rule"`},
		{"unknown severity rule", "rules:\n  severity:\n    nope: high\n", `p.yaml:5: unknown rule "nope"`},
		{"exemption without reason", "exemptions:\n  - rule: pss-privileged\n    owner: me\n    expires: 2027-01-01\n", "p.yaml:4: exemption for pss-privileged needs a reason"},
		{"exemption without owner", "exemptions:\n  - rule: pss-privileged\n    reason: r\n    expires: 2027-01-01\n", "p.yaml:4: exemption for pss-privileged needs an owner"},
		{"exemption without expiry", "exemptions:\n  - rule: pss-privileged\n    owner: me\n    reason: r\n", "p.yaml:4: exemption for pss-privileged needs an expiry date"},
		{"exemption bad date", "exemptions:\n  - rule: pss-privileged\n    expires: next week\n", "p.yaml:5: expires: want a date like 2027-01-31"},
		{"exemption matching no rule", "exemptions:\n  - rule: psp-*\n    owner: me\n    reason: r\n    expires: 2027-01-01\n", `p.yaml:4: exemption rule "psp-*" matches no rule`},
		{"wrong kind", "kind: Config\n", `p.yaml:2: kind must be Policy, got "Config"`},
		{"custom rule without expression", "rules:\n  custom:\n    - id: team\n      title: T\n      match: {kinds: [Deployment]}\n", "p.yaml:5: custom rule team needs an expression"},
		{"custom rule bad id", "rules:\n  custom:\n    - id: Team_Label\n      title: T\n      match: {kinds: [Deployment]}\n      expression: \"true\"\n", `p.yaml:5: custom rule id "Team_Label": want kebab-case`},
		{"custom rule bad kind", "rules:\n  custom:\n    - id: team\n      title: T\n      match: {kinds: [deployments]}\n      expression: \"true\"\n", `p.yaml:5: custom rule team: match.kinds: want Kind, group/Kind or *, got "deployments"`},
		{"custom rule twice", "rules:\n  custom:\n    - {id: team, title: T, match: {kinds: ['*']}, expression: \"true\"}\n    - {id: team, title: T, match: {kinds: ['*']}, expression: \"true\"}\n", `p.yaml:6: custom rule id "team" is used twice`},
		{"custom rule unknown key", "rules:\n  custom:\n    - id: team\n      expresion: \"true\"\n", `p.yaml:6: unknown key "expresion" (in a custom rule) (did you mean expression?)`},
		{"admission action", "rules:\n  settings:\n    admissionPolicyActions: {Block: high}\n", `p.yaml:5: admissionPolicyActions: want Deny, Warn or Audit (a binding's validationActions), got "Block"`},
		{"admission severity", "rules:\n  settings:\n    admissionPolicyActions: {Warn: loud}\n", `p.yaml:5: unknown severity "loud"`},
		{"not YAML", "- a\n", "p.yaml:3: did not find expected key"},
		{"unknown settings key", "rules:\n  settings:\n    maxTokenTTL: 600\n", `p.yaml:5: unknown key "maxTokenTTL" (in rules.settings)`},
		{"short token lifetime", "rules:\n  settings:\n    maxTokenExpirationSeconds: 60\n", "p.yaml:5: maxTokenExpirationSeconds must be at least 600"},
		{"pool without labels", "rules:\n  settings:\n    trustedNodePools:\n      - name: pay\n        namespaces: [pay]\n", `p.yaml:6: trusted node pool "pay" needs nodeLabels`},
		{"pool taint effect", "rules:\n  settings:\n    trustedNodePools:\n      - name: pay\n        namespaces: [pay]\n        nodeLabels: {pool: pay}\n        taints:\n          - {key: d, effect: Never}\n", "p.yaml:10: a taint needs a key and an effect"},
		{"registry with scheme", "images:\n  allowedRegistries:\n    - https://ghcr.io/acme\n", "p.yaml:5: images.allowedRegistries: want a registry or repository prefix"},
		{"unknown images key", "images:\n  allowRegistries: [x]\n", `p.yaml:4: unknown key "allowRegistries" (in images)`},
		{"image rule without match", "images:\n  rules:\n    - vulnerabilities: {failOn: high}\n", "p.yaml:5: an image rule needs match"},
		{"image rule bad glob", "images:\n  rules:\n    - match: [\"ghcr.io/[acme\"]\n", `p.yaml:5: bad glob "ghcr.io/[acme"`},
		{"signature without keys", "images:\n  rules:\n    - match: [\"**\"]\n      signature: {ignoreTlog: true}\n", "p.yaml:6: signature needs keys"},
		{"keyless without subject", "images:\n  rules:\n    - match: [\"**\"]\n      signature:\n        keyless: [{issuer: https://accounts.google.com}]\n", "p.yaml:7: a keyless identity needs one of issuer/issuerRegExp and one of subject/subjectRegExp"},
		{"keyless bad regexp", "images:\n  rules:\n    - match: [\"**\"]\n      signature:\n        keyless: [{issuer: i, subjectRegExp: \"(\"}]\n", "p.yaml:7: bad regular expression \"(\""},
		{"attestations without signature", "images:\n  rules:\n    - match: [\"**\"]\n      attestations: [{type: slsaprovenance}]\n", "p.yaml:6: attestations are verified with the rule's signature keys"},
		{"bad failOn", "images:\n  defaultRule: {vulnerabilities: {failOn: severe}}\n", `p.yaml:4: failOn must be critical, high, medium, low or off, got "severe"`},
		{"ignore without expiry", "images:\n  defaultRule:\n    vulnerabilities:\n      ignore: [{id: CVE-1, reason: r}]\n", "p.yaml:6: an ignored vulnerability needs expires"},
		{"ignore without reason", "images:\n  defaultRule:\n    vulnerabilities:\n      ignore: [{id: CVE-1, expires: 2027-01-01}]\n", "p.yaml:6: an ignored vulnerability needs an id and a reason"},
		{"default rule with match", "images:\n  defaultRule: {match: [x]}\n", "p.yaml:4: the default rule applies to every image no rule matches"},
		{"bad platform", "images:\n  platforms: [amd64]\n", `p.yaml:4: images.platforms: want os/architecture such as linux/amd64, got "amd64"`},
		{"unknown image rule key", "images:\n  rules:\n    - match: [x]\n      signatures: {}\n", `p.yaml:6: unknown key "signatures" (in an image rule)`},
		{"verdicts trusting nobody", "images:\n  verdicts:\n    maxAge: 24h\n", "p.yaml:4: images.verdicts.trust needs keys"},
		{"verdicts bad maxAge", "images:\n  verdicts:\n    trust: {keys: [ok.pub]}\n    maxAge: a day\n", `p.yaml:6: want a duration like 24h or 90m, got "a day"`},
		{"verdicts negative maxAge", "images:\n  verdicts:\n    trust: {keys: [ok.pub]}\n    maxAge: -1h\n", `p.yaml:6: want a duration like 24h or 90m, got "-1h"`},
		{"verdicts missing key", "images:\n  verdicts:\n    trust: {keys: [keys/missing.pub]}\n", `p.yaml:5: key "keys/missing.pub": reading the public key`},
		// Keys are read when the policy loads: a bad one is a policy error (exit 2), not a
		// finding on every image, and never a crash.
		{"empty key", "images:\n  rules:\n    - match: [\"**\"]\n      signature:\n        keys: [\"\"]\n", `p.yaml:7: key "": empty key reference: want a PEM file or env://VAR`},
		{"missing key file", "images:\n  defaultRule:\n    signature:\n      keys:\n        - ok.pub\n        - keys/missing.pub\n", `p.yaml:8: key "keys/missing.pub": reading the public key KEYDIR/keys/missing.pub: no such file or directory`},
		{"not a key", "images:\n  defaultRule:\n    signature:\n      keys: [p.yaml]\n", `p.yaml:6: key "p.yaml": not a PEM public key`},
		// An image that could not be checked never passes: no setting turns that off.
		{"disable a fail-closed rule", "rules:\n  disable: [image-unverified]\n", "p.yaml:4: image-unverified cannot be disabled: an image that could not be checked never passes"},
		{"unknown Kubernetes version", "kubernetesVersion: \"1.99\"\n", `p.yaml:3: Kubernetes "1.99" is newer than this kubegate knows (1.0 to 1.37): upgrade kubegate, or target 1.37`},
		{"near-miss key", "failon: high\n", `p.yaml:3: unknown key "failon" (in the policy) (did you mean failOn?)`},
		{"near-miss settings key", "rules:\n  settings:\n    maxTokenExpiration: 600\n", `(in rules.settings) (did you mean maxTokenExpirationSeconds?)`},
		{"near-miss rule ID", "rules:\n  disable: [pss-privilege]\n", `p.yaml:4: unknown rule "pss-privilege" (did you mean pss-privileged?)`},
		{"near-miss exemption rule", "exemptions:\n  - {rule: read-only-root-filesytem, owner: o, reason: r, expires: 2027-01-01}\n", `(did you mean read-only-root-filesystem?)`},
		{"string for a list", "images:\n  allowedRegistries: ghcr.io/acme/\n", `p.yaml:4: want a list, got the string "ghcr.io/acme/" (a list is written [ghcr.io/acme/] or as - items, one per line)`},
		{"bad skip glob", "skipDirs: [\"[a\"]\n", `p.yaml:3: skipDirs: bad glob "[a"`},
		{"lower a fail-closed rule", "rules:\n  severity:\n    image-not-scanned: low\n", "p.yaml:5: image-not-scanned fails the gate whatever its severity"},
	}
	keyDir := t.TempDir()
	writeKey(t, keyDir, "ok.pub")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := header + c.body
			if strings.HasPrefix(c.body, "kind:") {
				body = "apiVersion: kubegate.dev/v1alpha1\n" + c.body
			}
			file := filepath.Join(keyDir, "p.yaml")
			os.WriteFile(file, []byte(body), 0o644)
			_, err := Parse([]byte(body), file, testCatalogue)
			want := strings.ReplaceAll(c.want, "KEYDIR", keyDir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want %q", err, want)
			}
		})
	}
	if _, err := Parse([]byte("- a\n"), "p.yaml", testCatalogue); err == nil || err.Error() != "p.yaml:1: want the policy (a mapping), got a list" {
		t.Errorf("sequence: %v", err)
	}
	if _, err := Parse(nil, "p.yaml", testCatalogue); err == nil || err.Error() != "p.yaml: policy file is empty" {
		t.Errorf("empty: %v", err)
	}
	if _, err := Load("does-not-exist.yaml", testCatalogue); err == nil || !strings.Contains(err.Error(), "cannot read policy") {
		t.Errorf("missing: %v", err)
	}
}

func obj(kind, ns, name string, annotations map[string]any) *manifest.Object {
	raw := map[string]any{"apiVersion": "apps/v1", "kind": kind, "metadata": map[string]any{"name": name, "namespace": ns}}
	if annotations != nil {
		raw["metadata"].(map[string]any)["annotations"] = annotations
	}
	o, _ := manifest.NewObject(raw, manifest.Source{File: "m.yaml", Line: 1})
	return o
}

// testCatalogue stands for the real one (gate/rules, which imports this package): the
// rules these tests name, the policy's own, and a fail-closed image rule.
var testCatalogue = func() *finding.Catalogue {
	list := []*finding.Rule{RuleExemptionExpired, RuleExemptionUnused, RuleExemptionInvalid,
		{ID: "image-unverified", Severity: finding.High, FailClosed: true}, {ID: "image-not-scanned", Severity: finding.High, FailClosed: true}, {ID: "image-vulnerable", Severity: finding.High}}
	for _, id := range []string{"pss-privileged", "pss-host-namespaces", "pss-host-ports", "pss-run-as-non-root", "read-only-root-filesystem"} {
		list = append(list, &finding.Rule{ID: id, Severity: finding.High})
	}
	c, err := finding.NewCatalogue(list)
	if err != nil {
		panic(err)
	}
	return c
}()

func findingOf(rule string, o *manifest.Object, container string) finding.Finding {
	r, _ := testCatalogue.Get(rule)
	return finding.Finding{RuleID: rule, Severity: r.Severity, Object: o.Ref(), Container: container, Message: "m", Source: o.Source, FailClosed: r.FailClosed}
}

// TestParseReportsEveryError: a policy with several problems gets them all at once, each
// at its line, in line order: decoding errors and validation errors alike.
func TestParseReportsEveryError(t *testing.T) {
	body := header + "failOn: severe\nprofile: strict\nrules:\n  disable: [nope]\nexemptions:\n  - {rule: pss-privileged}\nimages:\n  platforms: amd64\n"
	_, err := Parse([]byte(body), "p.yaml", testCatalogue)
	want := []string{
		`p.yaml:3: unknown severity "severe" (want one of info, low, medium, high, critical)`,
		`p.yaml:4: profile must be baseline or restricted, got "strict"`,
		`p.yaml:6: unknown rule "nope" (see ` + "`kubegate rules`" + `)`,
		`p.yaml:8: exemption for pss-privileged needs an owner (who answers for it)`,
		`p.yaml:10: want a list, got the string "amd64" (a list is written [amd64] or as - items, one per line)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestApplyExemptions(t *testing.T) {
	p, err := Parse([]byte(header+`rules:
  severity: {pss-host-ports: low}
exemptions:
  - rule: pss-host-*
    kind: DaemonSet
    name: "*-exporter"
    owner: team-obs
    reason: reads host counters
    expires: 2027-03-31
  - rule: pss-privileged
    owner: team-net
    reason: old CNI
    expires: 2026-01-01
  - rule: read-only-root-filesystem
    container: sidecar
    owner: team-app
    reason: writes caches
    expires: 2027-01-01
`), "kubegate.yaml", testCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	exporter := obj("DaemonSet", "monitoring", "node-exporter", nil)
	web := obj("Deployment", "apps", "web", nil)
	annotated := obj("Deployment", "apps", "cni", map[string]any{AnnotationExempt: "pss-run-as-*", AnnotationExemptReason: "vendor image"})
	noReason := obj("Deployment", "apps", "bad", map[string]any{AnnotationExempt: "pss-run-as-non-root"})
	in := []finding.Finding{
		findingOf("pss-host-namespaces", exporter, ""), // exempted by #0
		findingOf("pss-host-ports", web, ""),           // not a DaemonSet: kept, severity low
		findingOf("pss-privileged", web, "app"),        // #1 expired: kept
		findingOf("read-only-root-filesystem", web, "app"),
		findingOf("pss-run-as-non-root", annotated, "c"), // annotation with reason
		findingOf("pss-run-as-non-root", noReason, "c"),  // annotation without reason: kept + invalid
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	out := p.Apply(in, []*manifest.Object{exporter, web, annotated, noReason}, now)
	if len(out.Exempted) != 2 {
		t.Errorf("exempted %d, want 2: %+v", len(out.Exempted), out.Exempted)
	}
	got := map[string]finding.Finding{}
	for _, f := range out.Findings {
		got[f.RuleID+"/"+f.Object.Name] = f
	}
	for _, key := range []string{"pss-host-ports/web", "pss-privileged/web", "read-only-root-filesystem/web", "pss-run-as-non-root/bad"} {
		if _, ok := got[key]; !ok {
			t.Errorf("missing kept finding %s", key)
		}
	}
	if got["pss-host-ports/web"].Severity != finding.Low {
		t.Errorf("severity override not applied: %s", got["pss-host-ports/web"].Severity)
	}
	checks := map[string]struct {
		msg  string
		line int
	}{
		"exemption-expired/kubegate.yaml": {"exemption for pss-privileged (owner team-net) expired on 2026-01-01; its findings are reported again", 12},
		"exemption-unused/kubegate.yaml":  {"exemption for read-only-root-filesystem (owner team-app) matched no finding", 16},
		"exemption-invalid/bad":           {"kubegate.dev/exempt exempts pss-run-as-non-root without a kubegate.dev/exempt-reason annotation; the exemption is ignored", 1},
	}
	for key, want := range checks {
		f, ok := got[key]
		if !ok {
			t.Errorf("missing %s in %v", key, got)
			continue
		}
		if f.Message != want.msg || f.Source.Line != want.line {
			t.Errorf("%s: %q at line %d, want %q at %d", key, f.Message, f.Source.Line, want.msg, want.line)
		}
	}
	if len(out.Findings) != 7 {
		t.Errorf("%d findings, want 7", len(out.Findings))
	}

	// Before its expiry day ends, the exemption still holds.
	live := p.Apply([]finding.Finding{findingOf("pss-privileged", web, "app")}, []*manifest.Object{web},
		time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC))
	if len(live.Exempted) != 1 {
		t.Errorf("exemption expired early: %+v", live)
	}
}

func TestDisabledRuleFindingsDropped(t *testing.T) {
	p, err := Parse([]byte(header+"rules:\n  disable: [exemption-unused]\nexemptions:\n  - {rule: pss-privileged, owner: o, reason: r, expires: 2099-01-01}\n"), "k.yaml", testCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	if out := p.Apply(nil, nil, time.Now()); len(out.Findings) != 0 {
		t.Errorf("disabled rule reported: %+v", out.Findings)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(header + "failOn: high\nprofile: baseline\nrules: {disable: [pss-privileged]}\n"))
	f.Add([]byte(header + "exemptions:\n  - {rule: pss-*, owner: o, reason: r, expires: 2027-01-01}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte(header + "rules:\n  severity:\n    pss-privileged: low\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml", testCatalogue)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if p.Profile != ProfileBaseline && p.Profile != ProfileRestricted {
			t.Errorf("accepted profile %q", p.Profile)
		}
		p.Apply(nil, nil, time.Now())
	})
}

func TestBaselineSplit(t *testing.T) {
	f := func(fp string) finding.Finding { return finding.Finding{RuleID: "r", Fingerprint: fp} }
	b := NewBaseline([]finding.Finding{f("a"), f("b"), f("b"), f("gone")})
	fresh, accepted, unmatched := b.Split([]finding.Finding{f("a"), f("b"), f("b"), f("b"), f("new")})
	if len(accepted) != 3 || len(fresh) != 2 || fresh[0].Fingerprint != "b" || fresh[1].Fingerprint != "new" ||
		len(unmatched) != 1 || unmatched[0].Fingerprint != "gone" {
		t.Errorf("fresh %v accepted %v unmatched %v", fresh, accepted, unmatched)
	}
}

// A baseline written before file names left fingerprints matches the previous one, once.
func TestBaselineMatchesPreviousFingerprints(t *testing.T) {
	old := NewBaseline([]finding.Finding{{RuleID: "r", Fingerprint: "with-file"}, {RuleID: "r", Fingerprint: "other"}})
	now := finding.Finding{RuleID: "r", Fingerprint: "without-file", PreviousFingerprint: "with-file"}
	fresh, accepted, unmatched := old.Split([]finding.Finding{now, now})
	if len(accepted) != 1 || len(fresh) != 1 || len(unmatched) != 1 || unmatched[0].Fingerprint != "other" {
		t.Errorf("fresh %v accepted %v unmatched %v", fresh, accepted, unmatched)
	}
}

func TestLoadBaselineErrors(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"apiVersion: kubegate.dev/v1alpha1\nkind: Baseline\nfindings:\n  - rule: r\n":                     "findings[0] has no fingerprint",
		"apiVersion: kubegate.dev/v1alpha1\nkind: Baseline\nfindings:\n  - fingerprint: x\n    line: 3\n": `unknown key "line"`,
		"[1, 2": "b.yaml",
	} {
		p := filepath.Join(dir, "b.yaml")
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := LoadBaseline(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", content, err, want)
		}
	}
	if _, err := LoadBaseline(filepath.Join(dir, "none.yaml")); err == nil || !strings.Contains(err.Error(), "baseline: open") {
		t.Errorf("missing file: %v", err)
	}
}

// TestAnnotationsCannotAdmitUncheckedImages: an object's own annotation (written by whoever
// writes the manifest) exempts it from rules, but never from an image that could not be
// checked; an exemption in the policy file (owner, reason, expiry) can.
func TestAnnotationsCannotAdmitUncheckedImages(t *testing.T) {
	p := Default()
	o := obj("Deployment", "shop", "web", map[string]any{AnnotationExempt: "image-*", AnnotationExemptReason: "trust me"})
	out := p.Apply([]finding.Finding{findingOf("image-unverified", o, "c"), findingOf("image-vulnerable", o, "c")}, []*manifest.Object{o}, time.Now())
	if len(out.Findings) != 1 || out.Findings[0].RuleID != "image-unverified" || len(out.Exempted) != 1 || out.Exempted[0].RuleID != "image-vulnerable" {
		t.Errorf("findings %v, exempted %v", out.Findings, out.Exempted)
	}
	p, err := Parse([]byte(header+"exemptions:\n  - {rule: image-unverified, namespace: shop, owner: platform, reason: vendor image signed next week, expires: 2099-01-31}\n"), "p.yaml", testCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	if out := p.Apply([]finding.Finding{findingOf("image-unverified", o, "c")}, []*manifest.Object{o}, time.Now()); len(out.Findings) != 0 || len(out.Exempted) != 1 {
		t.Errorf("policy exemption: findings %v, exempted %v", out.Findings, out.Exempted)
	}
}

// TestEnvKeysAreReadWhenImagesAreChecked: env://VAR keys are CI secrets a local run may
// not have; they are read when the image stage starts (CheckEnvKeys), as policy errors at
// their line.
func TestEnvKeysAreReadWhenImagesAreChecked(t *testing.T) {
	p, err := Parse([]byte(header+"images:\n  defaultRule:\n    signature:\n      keys: [env://KUBEGATE_TEST_KEY]\n"), "p.yaml", testCatalogue)
	if err != nil {
		t.Fatalf("an env:// key was read when the policy loaded: %v", err)
	}
	t.Setenv("KUBEGATE_TEST_KEY", "")
	if err := p.CheckEnvKeys(); err == nil || err.Error() != `p.yaml:6: key "env://KUBEGATE_TEST_KEY": environment variable KUBEGATE_TEST_KEY is empty` {
		t.Errorf("empty variable: %v", err)
	}
	t.Setenv("KUBEGATE_TEST_KEY", "not a key")
	if err := p.CheckEnvKeys(); err == nil || !strings.HasPrefix(err.Error(), `p.yaml:6: key "env://KUBEGATE_TEST_KEY": not a PEM public key`) {
		t.Errorf("not a key: %v", err)
	}
	pem, _ := os.ReadFile(writeKey(t, t.TempDir(), "k.pub"))
	t.Setenv("KUBEGATE_TEST_KEY", string(pem))
	if err := p.CheckEnvKeys(); err != nil {
		t.Errorf("a PEM key: %v", err)
	}
}

// Custom rules and admission policies' validations are rules the policy may name: in
// rules.disable, rules.severity and exemptions.
func TestCustomAndAdmissionRulesAreNamed(t *testing.T) {
	body := `apiVersion: kubegate.dev/v1alpha1
kind: Policy
rules:
  custom:
    - id: require-team-label
      title: Deployments name their team
      match: {kinds: [apps/Deployment]}
      expression: "has(object.metadata.labels)"
  disable: [vap:replicas/0]
  severity: {require-team-label: low, "vap:replicas/1": critical}
exemptions:
  - {rule: "require-*", owner: me, reason: r, expires: 2027-01-01}
  - {rule: "vap:replicas/*", owner: me, reason: r, expires: 2027-01-01}
`
	p, err := Parse([]byte(body), "p.yaml", testCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Rules.Custom[0]
	if r.Line != 5 || r.ExpressionLine != 8 || r.SeverityOrDefault() != finding.Medium || !r.Match.Matches("apps", "Deployment") || r.Match.Matches("", "Deployment") {
		t.Errorf("custom rule read as %+v", r)
	}
	if p.Enabled("vap:replicas/0") || !p.Enabled("vap:replicas/1") {
		t.Error("rules.disable does not disable an admission policy's validation")
	}
}
