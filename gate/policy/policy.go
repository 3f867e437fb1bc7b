// Package policy reads kubegate.yaml — the project's policy — strictly, with line numbers
// in every error, and applies it to findings: disabled rules, severity overrides,
// exemptions with an owner, a reason and an expiry date.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/gate/apiversions"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/glob"
	"github.com/kubegate/kubegate/internal/suggest"
)

const (
	APIVersion = "kubegate.dev/v1alpha1"
	Kind       = "Policy"
)

// DefaultFiles are looked for in the working directory when no --config is given.
var DefaultFiles = []string{"kubegate.yaml", "kubegate.yml"}

// Policy is kubegate.yaml. Every field has a secure default: no file is needed to start.
type Policy struct {
	APIVersion        string           `yaml:"apiVersion"`
	Kind              string           `yaml:"kind"`
	KubernetesVersion string           `yaml:"kubernetesVersion"`
	FailOn            finding.Severity `yaml:"failOn"`
	Profile           Profile          `yaml:"profile"`
	Rules             RuleSettings     `yaml:"rules"`
	Images            Images           `yaml:"images"`
	Exemptions        []Exemption      `yaml:"exemptions"`
	// SkipDirs and SkipFiles are globs of paths left out when a directory is checked
	// (with --skip-dirs and --skip-files added to them).
	SkipDirs  []string `yaml:"skipDirs"`
	SkipFiles []string `yaml:"skipFiles"`

	// File is where the policy was read from ("" for the built-in default).
	File string `yaml:"-"`
	// lines of list items, for pointing findings and errors at the policy file.
	exemptionLines []int
	// envKeys are read when images are checked (CheckEnvKeys).
	envKeys []envKey
	// problems are what validation found, all of them.
	problems Errors
}

// RuleSettings turns rules off, changes their severity and sets what rules read.
type RuleSettings struct {
	Disable  []string                    `yaml:"disable"`
	Severity map[string]finding.Severity `yaml:"severity"`
	Settings Settings                    `yaml:"settings"`
	// Custom are the project's own rules, in CEL.
	Custom []CustomRule `yaml:"custom"`
}

// Images is the images section: where images may come from, how they are referenced, and
// what the image stage requires of them (signatures, attestations, vulnerabilities).
type Images struct {
	AllowedRegistries  []string `yaml:"allowedRegistries"`
	InsecureRegistries []string `yaml:"insecureRegistries"`
	RequireDigest      bool     `yaml:"requireDigest"`
	// Rules: the first whose match globs match the image's repository applies; unmatched
	// images use DefaultRule.
	Rules       []ImageRule `yaml:"rules"`
	DefaultRule *ImageRule  `yaml:"defaultRule"`
	// Platforms of multi-arch images to check ("linux/amd64"); default linux/amd64 and
	// linux/arm64, those the index has.
	Platforms    []string `yaml:"platforms"`
	AllowStaleDB bool     `yaml:"allowStaleDB"`
	// Verdicts: whose verdict attestations (check --attest) stand for checking an image
	// again; nil: every image is checked.
	Verdicts *VerdictTrust `yaml:"verdicts"`
}

// VerdictTrust says which verdict attestations are used instead of a check: signed by
// one of Trust's keys or keyless identities, made at most MaxAge ago (default 24h), under
// an image policy that judges images as this one does.
type VerdictTrust struct {
	Trust  SignatureRule `yaml:"trust"`
	MaxAge Duration      `yaml:"maxAge"`
}

// DefaultVerdictMaxAge is how old a verdict attestation may be when maxAge is not set: a
// day, as the vulnerability DB is updated several times a day.
const DefaultVerdictMaxAge = 24 * time.Hour

// MaxAgeOrDefault is MaxAge, or DefaultVerdictMaxAge when unset.
func (v *VerdictTrust) MaxAgeOrDefault() time.Duration {
	if v.MaxAge.Duration > 0 {
		return v.MaxAge.Duration
	}
	return DefaultVerdictMaxAge
}

// Duration is a Go duration written as text: 24h, 90m.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration like 24h or 90m, got %q", n.Line, n.Value)}}
	}
	d.Duration = v
	return nil
}

// KubeMinor is the minor of kubernetesVersion (1.<minor>), 0 when the policy names none:
// the newest the gate knows.
func (p *Policy) KubeMinor() int {
	minor, _ := ParseKubeMinor(p.KubernetesVersion) // validated when loaded
	return minor
}

// Exemption accepts the findings of rules (a glob) on matching objects, for a reason,
// until a date. Empty selectors match everything; selectors are globs.
type Exemption struct {
	Rule      string `yaml:"rule"`
	Kind      string `yaml:"kind"`
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	Container string `yaml:"container"`
	Owner     string `yaml:"owner"`
	Reason    string `yaml:"reason"`
	Expires   Date   `yaml:"expires"`
}

// Date is a calendar day, written 2027-01-31. An exemption expires at the end of it (UTC).
type Date struct{ time.Time }

func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expires: want a date like 2027-01-31, got %q", n.Line, n.Value)}}
	}
	d.Time = t
	return nil
}

func (d Date) String() string { return d.Format(time.DateOnly) }

// Default returns the policy used when there is no file.
func Default() *Policy {
	return &Policy{APIVersion: APIVersion, Kind: Kind, FailOn: finding.Medium, Profile: ProfileRestricted}
}

// Error is a problem with the policy file, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

// Errors are every problem of a policy file, each at its line, reported at once.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// orNil is es as an error, or nil when there is none.
func (es Errors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	slices.SortStableFunc(es, func(a, b *Error) int { return a.Line - b.Line })
	return es
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Discover loads kubegate.yaml from dir when it exists, else the default policy.
func Discover(dir string, cat *finding.Catalogue) (*Policy, error) {
	for _, n := range DefaultFiles {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return Load(p, cat)
		}
	}
	return Default(), nil
}

// Load reads a policy file; rule IDs are checked against cat.
func Load(path string, cat *finding.Catalogue) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read policy: %v", errors.Unwrap(err))}
	}
	return Parse(data, path, cat)
}

// Parse decodes a policy strictly: unknown keys, wrong types and invalid values are
// errors naming their line. Rule IDs are checked against cat.
func Parse(data []byte, file string, cat *finding.Catalogue) (*Policy, error) {
	p := Default()
	p.File = file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var decodeErrs Errors
	if err := dec.Decode(p); err != nil {
		var te *yaml.TypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, &Error{File: file, Msg: "policy file is empty"}
		case !errors.As(err, &te):
			return nil, yamlError(file, err) // not YAML, or not a mapping: nothing more to say
		}
		// yaml.v3 decodes what it can and lists every key and value it could not: report
		// them all, with what validation finds in the rest.
		for _, e := range te.Errors {
			decodeErrs = append(decodeErrs, yamlError(file, errors.New(e)))
		}
	}
	// A second parse, into nodes, gives validate the lines to name: yaml.v3's strict
	// unknown-key check exists only on its Decoder, not on Node.Decode. Policy files are small.
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	for _, e := range decodeErrs {
		// yaml.v3 shortens long values in its messages: name them whole.
		if short := truncatedValue.FindStringSubmatch(e.Msg); short != nil {
			if full := scalarAt(&root, e.Line, short[1]); full != "" {
				e.Msg = strings.ReplaceAll(e.Msg, short[1]+"...", full)
			}
		}
	}
	_ = p.validate(&root, cat)
	all := decodeErrs
	for _, e := range p.problems {
		// A value that did not decode is left empty: validation would only repeat it.
		if !slices.ContainsFunc(decodeErrs, func(d *Error) bool { return d.Line == e.Line }) {
			all = append(all, e)
		}
	}
	if err := all.orNil(); err != nil {
		return nil, err
	}
	return p, nil
}

// yamlError rewrites one of yaml.v3's messages ("line 3: field x not found in type
// policy.Policy", "cannot unmarshal !!str `a` into []string") as a file:line error in the
// user's terms, naming the key the user probably meant.
func yamlError(file string, err error) *Error {
	line, msg := manifest.YAMLErrorLine(err)
	if f, typ, ok := strings.Cut(msg, " not found in type "); ok && strings.HasPrefix(f, "field ") {
		key := strings.TrimPrefix(f, "field ")
		msg = fmt.Sprintf("unknown key %q (in %s)%s", key, friendlyType(typ), suggest.Hint(key, yamlKeys(typ)))
	} else if m := cannotUnmarshal.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("want %s, got %s", friendlyGoType(m[3]), friendlyValue(m[1], m[2]))
		if strings.HasPrefix(m[3], "[]") && m[1] != "!!seq" {
			msg += fmt.Sprintf(" (a list is written [%s] or as - items, one per line)", m[2])
		}
	}
	return &Error{File: file, Line: line, Msg: msg}
}

// truncatedValue is a value yaml.v3 shortened in a message ("ghcr.io...").
var truncatedValue = regexp.MustCompile(`"([^"]*)\.\.\."`)

// scalarAt is the value of the first scalar at line that starts with prefix.
func scalarAt(n *yaml.Node, line int, prefix string) string {
	if n.Kind == yaml.ScalarNode && n.Line == line && strings.HasPrefix(n.Value, prefix) {
		return n.Value
	}
	for _, c := range n.Content {
		if v := scalarAt(c, line, prefix); v != "" {
			return v
		}
	}
	return ""
}

// cannotUnmarshal is yaml.v3's wrong-type message: tag, value (for scalars) and Go type.
var cannotUnmarshal = regexp.MustCompile("^cannot unmarshal (!![a-z]+)(?: `([^`]*)`)? into (\\S+)$")

func friendlyGoType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping (key: value lines)"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	}
	return friendlyType(t) + " (a mapping)"
}

func friendlyValue(tag, value string) string {
	switch tag {
	case "!!str":
		return fmt.Sprintf("the string %q", value)
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!int", "!!float", "!!bool":
		return value
	}
	return tag + " " + value
}

// yamlKeys are the keys of the policy type yaml.v3 names ("policy.Settings"), for "did
// you mean".
func yamlKeys(typ string) []string {
	var out []string
	var walk func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Anonymous {
				walk(f.Type)
				continue
			}
			if t.String() == typ {
				if k, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); k != "" && k != "-" {
					out = append(out, k)
				}
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Policy]())
	walk(reflect.TypeFor[Baseline]())
	return out
}

func friendlyType(t string) string {
	switch strings.TrimPrefix(t, "policy.") {
	case "Policy":
		return "the policy"
	case "RuleSettings":
		return "rules"
	case "Exemption":
		return "an exemption"
	case "Images":
		return "images"
	case "Settings":
		return "rules.settings"
	case "NodePool":
		return "a trusted node pool"
	case "Taint":
		return "a taint"
	case "ImageRule":
		return "an image rule"
	case "SignatureRule":
		return "signature"
	case "KeylessIdentity":
		return "a keyless identity"
	case "AttestationRule":
		return "an attestation"
	case "VulnerabilityRule":
		return "vulnerabilities"
	case "VulnIgnore":
		return "an ignored vulnerability"
	case "CustomRule":
		return "a custom rule"
	case "CustomMatch":
		return "a custom rule's match"
	case "Baseline":
		return "the baseline"
	case "BaselineEntry":
		return "a baseline entry"
	}
	return t
}

func (p *Policy) validate(root *yaml.Node, cat *finding.Catalogue) error {
	p.problems = nil
	errAt := func(line int, format string, args ...any) {
		p.problems = append(p.problems, &Error{File: p.File, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	line := func(path string) int { return manifest.NodeLine(doc, path) }
	if p.APIVersion != APIVersion {
		errAt(line("apiVersion"), "apiVersion must be %s, got %q", APIVersion, p.APIVersion)
	}
	if p.Kind != Kind {
		errAt(line("kind"), "kind must be %s, got %q", Kind, p.Kind)
	}
	if p.Profile != ProfileBaseline && p.Profile != ProfileRestricted {
		errAt(line("profile"), "profile must be baseline or restricted, got %q", p.Profile)
	}
	if p.KubernetesVersion != "" {
		if _, err := ParseKubeMinor(p.KubernetesVersion); err != nil {
			errAt(line("kubernetesVersion"), "%v", err)
		}
	}
	p.validateCustom(line, cat)
	for i, id := range p.Rules.Disable {
		r, ok := p.knownRule(cat, id)
		switch {
		case !ok:
			errAt(line(fmt.Sprintf("rules.disable[%d]", i)), "unknown rule %q%s (see `kubegate rules`)", id, p.unknownRuleHint(cat, id))
		case r != nil && r.FailClosed:
			errAt(line(fmt.Sprintf("rules.disable[%d]", i)), "%s cannot be disabled: an image that could not be checked never passes. "+
				"To stop requiring signatures drop signature from the image rule, to stop scanning set vulnerabilities.failOn: off, "+
				"and to admit one workload add an exemption with an owner, a reason and an expiry", id)
		}
	}
	for id := range p.Rules.Severity {
		r, ok := p.knownRule(cat, id)
		switch {
		case !ok:
			errAt(line("rules.severity."+id), "unknown rule %q%s (see `kubegate rules`)", id, p.unknownRuleHint(cat, id))
		case r != nil && r.FailClosed:
			errAt(line("rules.severity."+id), "%s fails the gate whatever its severity (an image that could not be checked never passes): an override would only mislabel it", id)
		}
	}
	p.validateSettings(line)
	for field, list := range map[string][]string{"images.allowedRegistries": p.Images.AllowedRegistries, "images.insecureRegistries": p.Images.InsecureRegistries} {
		for i, r := range list {
			if strings.TrimSpace(r) == "" || strings.Contains(r, "://") {
				errAt(line(fmt.Sprintf("%s[%d]", field, i)), "%s: want a registry or repository prefix such as ghcr.io/acme/, got %q", field, r)
			}
		}
	}
	for field, list := range map[string][]string{"skipDirs": p.SkipDirs, "skipFiles": p.SkipFiles} {
		for i, g := range list {
			if strings.TrimSpace(g) == "" || !glob.Valid(g) {
				errAt(line(fmt.Sprintf("%s[%d]", field, i)), "%s: bad glob %q", field, g)
			}
		}
	}
	p.validateImages(line)
	p.exemptionLines = make([]int, len(p.Exemptions))
	for i, e := range p.Exemptions {
		l := line(fmt.Sprintf("exemptions[%d]", i))
		p.exemptionLines[i] = l
		switch {
		case e.Rule == "":
			errAt(l, "exemption needs a rule (an ID or a glob such as pss-*)")
		case !p.matchesAnyRule(cat, e.Rule):
			errAt(l, "exemption rule %q matches no rule%s (see `kubegate rules`)", e.Rule, p.unknownRuleHint(cat, e.Rule))
		case strings.TrimSpace(e.Owner) == "":
			errAt(l, "exemption for %s needs an owner (who answers for it)", e.Rule)
		case strings.TrimSpace(e.Reason) == "":
			errAt(l, "exemption for %s needs a reason", e.Rule)
		case e.Expires.IsZero():
			errAt(l, "exemption for %s needs an expiry date (expires: 2027-01-31)", e.Rule)
		}
		for _, g := range []string{e.Rule, e.Kind, e.Namespace, e.Name, e.Container} {
			if _, err := filepath.Match(g, ""); err != nil {
				errAt(l, "bad glob %q: %v", g, err)
			}
		}
	}
	return p.problems.orNil()
}

// validateSettings checks rules.settings; line finds the line of a field path.
func (p *Policy) validateSettings(line func(string) int) {
	st := p.Rules.Settings
	errAt := func(path, format string, args ...any) {
		p.problems = append(p.problems, &Error{File: p.File, Line: line("rules.settings." + path), Msg: fmt.Sprintf(format, args...)})
	}
	for a := range st.AdmissionPolicyActions {
		if a != "Deny" && a != "Warn" && a != "Audit" {
			errAt("admissionPolicyActions."+a, "admissionPolicyActions: want Deny, Warn or Audit (a binding's validationActions), got %q", a)
		}
	}
	if t := st.MaxTokenExpirationSeconds; t != 0 && t < 600 {
		errAt("maxTokenExpirationSeconds", "maxTokenExpirationSeconds must be at least 600 (the API server's minimum), got %d", t)
	}
	for i, g := range st.NetworkPoliciesElsewhere {
		if _, err := filepath.Match(g, ""); err != nil {
			errAt(fmt.Sprintf("networkPoliciesElsewhere[%d]", i), "bad glob %q: %v", g, err)
		}
	}
	for i, pool := range st.TrustedNodePools {
		at := fmt.Sprintf("trustedNodePools[%d]", i)
		switch {
		case pool.Name == "":
			errAt(at, "a trusted node pool needs a name")
		case len(pool.Namespaces) == 0:
			errAt(at, "trusted node pool %q needs namespaces (the sensitive namespaces it is for)", pool.Name)
		case len(pool.NodeLabels) == 0:
			errAt(at, "trusted node pool %q needs nodeLabels (the labels its nodes carry)", pool.Name)
		}
		for _, g := range pool.Namespaces {
			if _, err := filepath.Match(g, ""); err != nil {
				errAt(at, "bad glob %q: %v", g, err)
			}
		}
		for j, t := range pool.Taints {
			if t.Key == "" || (t.Effect != "NoSchedule" && t.Effect != "PreferNoSchedule" && t.Effect != "NoExecute") {
				errAt(fmt.Sprintf("%s.taints[%d]", at, j), "a taint needs a key and an effect (NoSchedule, PreferNoSchedule or NoExecute)")
			}
		}
	}
}

// ruleIDs are the catalogue's rule IDs, for "did you mean".
func ruleIDs(cat *finding.Catalogue) []string {
	var ids []string
	for _, r := range cat.All() {
		ids = append(ids, r.ID)
	}
	return ids
}

// matchesAnyRule says whether an exemption's rule glob matches a built-in or custom rule,
// or names admission policies' validations (vap:…, known once the inputs are read).
func (p *Policy) matchesAnyRule(cat *finding.Catalogue, glob string) bool {
	if strings.HasPrefix(glob, "vap:") {
		return true
	}
	for _, id := range append(ruleIDs(cat), p.customIDs()...) {
		if ok, _ := filepath.Match(glob, id); ok {
			return true
		}
	}
	return false
}

// ParseKubeMinor reads a Kubernetes version ("1.37", "v1.37.2") and returns its minor.
func ParseKubeMinor(v string) (int, error) {
	minor, ok := apiversions.ParseMinor(strings.TrimSpace(v))
	if !ok {
		return 0, fmt.Errorf("kubernetesVersion must look like 1.%d or v1.%d.2, got %q", apiversions.NewestKnownMinor, apiversions.NewestKnownMinor, v)
	}
	if minor > apiversions.NewestKnownMinor {
		// Rules would judge it by the newest release they know, silently.
		return 0, fmt.Errorf("Kubernetes %q is newer than this kubegate knows (1.0 to 1.%d): upgrade kubegate, or target 1.%d", v, apiversions.NewestKnownMinor, apiversions.NewestKnownMinor)
	}
	return minor, nil
}
