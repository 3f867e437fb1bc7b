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
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/gate/apiversions"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
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

	// File is where the policy was read from ("" for the built-in default).
	File string `yaml:"-"`
	// lines of list items, for pointing findings and errors at the policy file.
	exemptionLines []int
	// envKeys are read when images are checked (CheckEnvKeys).
	envKeys []envKey
}

// RuleSettings turns rules off, changes their severity and sets what rules read.
type RuleSettings struct {
	Disable  []string                    `yaml:"disable"`
	Severity map[string]finding.Severity `yaml:"severity"`
	Settings Settings                    `yaml:"settings"`
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
		return fmt.Errorf("line %d: expires: want a date like 2027-01-31, got %q", n.Line, n.Value)
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
	if err := dec.Decode(p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "policy file is empty"}
		}
		return nil, yamlError(file, err)
	}
	// A second parse, into nodes, gives validate the lines to name: yaml.v3's strict
	// unknown-key check exists only on its Decoder, not on Node.Decode. Policy files are small.
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	if err := p.validate(&root, cat); err != nil {
		return nil, err
	}
	return p, nil
}

// yamlError rewrites yaml.v3's messages ("yaml: unmarshal errors:\n  line 3: field x not
// found in type policy.Policy") as file:line errors in the user's terms.
func yamlError(file string, err error) error {
	line, msg := manifest.YAMLErrorLine(err)
	if f, typ, ok := strings.Cut(msg, " not found in type "); ok && strings.HasPrefix(f, "field ") {
		msg = fmt.Sprintf("unknown key %q (in %s)", strings.TrimPrefix(f, "field "), friendlyType(typ))
	}
	return &Error{File: file, Line: line, Msg: msg}
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
	case "Baseline":
		return "the baseline"
	case "BaselineEntry":
		return "a baseline entry"
	}
	return t
}

func (p *Policy) validate(root *yaml.Node, cat *finding.Catalogue) error {
	errAt := func(line int, format string, args ...any) error {
		return &Error{File: p.File, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	line := func(path string) int { return manifest.NodeLine(doc, path) }
	if p.APIVersion != APIVersion {
		return errAt(line("apiVersion"), "apiVersion must be %s, got %q", APIVersion, p.APIVersion)
	}
	if p.Kind != Kind {
		return errAt(line("kind"), "kind must be %s, got %q", Kind, p.Kind)
	}
	if p.Profile != ProfileBaseline && p.Profile != ProfileRestricted {
		return errAt(line("profile"), "profile must be baseline or restricted, got %q", p.Profile)
	}
	if p.KubernetesVersion != "" {
		if _, err := ParseKubeMinor(p.KubernetesVersion); err != nil {
			return errAt(line("kubernetesVersion"), "%v", err)
		}
	}
	for i, id := range p.Rules.Disable {
		r, ok := cat.Get(id)
		switch {
		case !ok:
			return errAt(line(fmt.Sprintf("rules.disable[%d]", i)), "unknown rule %q (see `kubegate rules`)", id)
		case r.FailClosed:
			return errAt(line(fmt.Sprintf("rules.disable[%d]", i)), "%s cannot be disabled: an image that could not be checked never passes. "+
				"To stop requiring signatures drop signature from the image rule, to stop scanning set vulnerabilities.failOn: off, "+
				"and to admit one workload add an exemption with an owner, a reason and an expiry", id)
		}
	}
	for id := range p.Rules.Severity {
		r, ok := cat.Get(id)
		switch {
		case !ok:
			return errAt(line("rules.severity."+id), "unknown rule %q (see `kubegate rules`)", id)
		case r.FailClosed:
			return errAt(line("rules.severity."+id), "%s fails the gate whatever its severity (an image that could not be checked never passes): an override would only mislabel it", id)
		}
	}
	if err := p.validateSettings(line); err != nil {
		return err
	}
	for field, list := range map[string][]string{"images.allowedRegistries": p.Images.AllowedRegistries, "images.insecureRegistries": p.Images.InsecureRegistries} {
		for i, r := range list {
			if strings.TrimSpace(r) == "" || strings.Contains(r, "://") {
				return errAt(line(fmt.Sprintf("%s[%d]", field, i)), "%s: want a registry or repository prefix such as ghcr.io/acme/, got %q", field, r)
			}
		}
	}
	if err := p.validateImages(line); err != nil {
		return err
	}
	p.exemptionLines = make([]int, len(p.Exemptions))
	for i, e := range p.Exemptions {
		l := line(fmt.Sprintf("exemptions[%d]", i))
		p.exemptionLines[i] = l
		switch {
		case e.Rule == "":
			return errAt(l, "exemption needs a rule (an ID or a glob such as pss-*)")
		case !matchesAnyRule(cat, e.Rule):
			return errAt(l, "exemption rule %q matches no rule (see `kubegate rules`)", e.Rule)
		case strings.TrimSpace(e.Owner) == "":
			return errAt(l, "exemption for %s needs an owner (who answers for it)", e.Rule)
		case strings.TrimSpace(e.Reason) == "":
			return errAt(l, "exemption for %s needs a reason", e.Rule)
		case e.Expires.IsZero():
			return errAt(l, "exemption for %s needs an expiry date (expires: 2027-01-31)", e.Rule)
		}
		for _, g := range []string{e.Rule, e.Kind, e.Namespace, e.Name, e.Container} {
			if _, err := filepath.Match(g, ""); err != nil {
				return errAt(l, "bad glob %q: %v", g, err)
			}
		}
	}
	return nil
}

// validateSettings checks rules.settings; line finds the line of a field path.
func (p *Policy) validateSettings(line func(string) int) error {
	st := p.Rules.Settings
	errAt := func(path, format string, args ...any) error {
		return &Error{File: p.File, Line: line("rules.settings." + path), Msg: fmt.Sprintf(format, args...)}
	}
	if t := st.MaxTokenExpirationSeconds; t != 0 && t < 600 {
		return errAt("maxTokenExpirationSeconds", "maxTokenExpirationSeconds must be at least 600 (the API server's minimum), got %d", t)
	}
	for i, g := range st.NetworkPoliciesElsewhere {
		if _, err := filepath.Match(g, ""); err != nil {
			return errAt(fmt.Sprintf("networkPoliciesElsewhere[%d]", i), "bad glob %q: %v", g, err)
		}
	}
	for i, pool := range st.TrustedNodePools {
		at := fmt.Sprintf("trustedNodePools[%d]", i)
		switch {
		case pool.Name == "":
			return errAt(at, "a trusted node pool needs a name")
		case len(pool.Namespaces) == 0:
			return errAt(at, "trusted node pool %q needs namespaces (the sensitive namespaces it is for)", pool.Name)
		case len(pool.NodeLabels) == 0:
			return errAt(at, "trusted node pool %q needs nodeLabels (the labels its nodes carry)", pool.Name)
		}
		for _, g := range pool.Namespaces {
			if _, err := filepath.Match(g, ""); err != nil {
				return errAt(at, "bad glob %q: %v", g, err)
			}
		}
		for j, t := range pool.Taints {
			if t.Key == "" || (t.Effect != "NoSchedule" && t.Effect != "PreferNoSchedule" && t.Effect != "NoExecute") {
				return errAt(fmt.Sprintf("%s.taints[%d]", at, j), "a taint needs a key and an effect (NoSchedule, PreferNoSchedule or NoExecute)")
			}
		}
	}
	return nil
}

func matchesAnyRule(cat *finding.Catalogue, glob string) bool {
	for _, r := range cat.All() {
		if ok, _ := filepath.Match(glob, r.ID); ok {
			return true
		}
	}
	return false
}

// ParseKubeMinor reads a Kubernetes version ("1.37", "v1.37.2") and returns its minor.
func ParseKubeMinor(v string) (int, error) {
	minor, ok := apiversions.ParseMinor(strings.TrimSpace(v))
	if !ok {
		return 0, fmt.Errorf("kubernetesVersion must look like 1.37 or v1.37.2, got %q", v)
	}
	return minor, nil
}
