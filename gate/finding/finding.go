// Package finding is the gate's vocabulary, which every stage and report imports: severities,
// rules (what they check and how to fix it; gate/rules lists them all), findings, and the one verdict
// on a finding.
package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/gate/manifest"
)

// Severity orders findings; the policy's failOn is a Severity.
type Severity int

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads "critical", "high", "medium", "low" or "info".
func ParseSeverity(s string) (Severity, error) {
	if i := slices.Index(severityNames, strings.ToLower(strings.TrimSpace(s))); i >= 0 {
		return Severity(i), nil
	}
	return 0, fmt.Errorf("unknown severity %q (want one of %s)", s, strings.Join(severityNames, ", "))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// UnmarshalYAML reads a severity from a policy file, naming the line when it is wrong.
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSeverity(n.Value)
	if err != nil {
		// A TypeError lets yaml.v3 go on and report every bad value of the file at once.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*s = v
	return nil
}

// Rule is one rule of the catalogue: what it checks and how to fix it. Its check is in
// gate/rules, or is the stage that reports it (images, gate/node, gate/policy).
type Rule struct {
	ID        string   // stable kebab-case slug
	Title     string   // one line
	Severity  Severity // default; the policy may override it
	Practices []string // seed practices enforced: "000-2" = item 2 of 000_38c70c4cd14f944a.txt
	Refs      []string // CIS ids, PSS controls, documentation links
	Fix       string   // one sentence: what to change
	Doc       string   // what is checked and why, for `kubegate rules ID`
	// FailClosed: a finding of this rule means a check could not be done (an image not
	// resolved, verified or scanned). It fails the gate whatever failOn and the severity
	// say, no baseline accepts it and the rule cannot be disabled: only a policy-file
	// exemption with an owner, a reason and an expiry admits it (an object's annotation
	// does not).
	FailClosed bool
}

// Fails is the gate's one verdict on a finding: at or above failOn, or a check that could
// not be done (FailClosed) at any severity. check, the reports and the admission webhook
// all judge with it. A finding the change under review did not introduce (Unchanged,
// with --diff-base) fails only when it is FailClosed: an image that cannot be checked now
// is unknown, whatever the base said of it.
func Fails(f Finding, failOn Severity) bool {
	if f.Status == Unchanged && !f.FailClosed {
		return false
	}
	return f.Severity >= failOn || f.FailClosed
}

// Status is where a finding stands against the base of a change (check --diff-base).
type Status string

const (
	New       Status = "new"       // the change introduces it
	Unchanged Status = "unchanged" // the base has it too
)

// Finding is one violation of one rule by one object.
type Finding struct {
	RuleID    string
	Severity  Severity
	Object    manifest.Ref
	Field     string // field path within the object, when one field is at fault
	Container string // container name, when one container is at fault
	Message   string
	Source    manifest.Source
	// Subject tells apart findings of one rule on one field that are about different
	// things: the image reference for image findings.
	Subject string
	// Fingerprint identifies the finding across runs (baselines, SARIF, GitLab); the gate
	// sets it once findings are sorted. See Key.
	Fingerprint string
	// PreviousFingerprint is the fingerprint as kubegate computed it before the plain
	// file's path left the key (FileKey): baselines written then still match it.
	PreviousFingerprint string
	// Status is set when the run is compared with a base (--diff-base); "" otherwise.
	Status Status
	// FailClosed: the finding's rule is FailClosed (an image that could not be checked).
	// It travels with the finding so that no verdict depends on looking the rule up.
	FailClosed bool
}

// Key is what the finding is about, independent of where it is written: rule, object
// (kind, namespace, name, and the Kustomize root or chart that produced it), field,
// container and subject. Lines and the names of plain manifest files are left out, so a
// finding keeps its key when lines move and when its file is renamed; two plain files
// that hold the same object are told apart by the order of their findings (the gate
// numbers repeated keys).
func (f Finding) Key() string { return f.key(f.Source.Via) }

// FileKey is Key with the plain file's path in it, as kubegate keyed findings before:
// what tells apart the same object written in two files (deploy/prod/app.yaml,
// deploy/staging/app.yaml).
func (f Finding) FileKey() string {
	input := f.Source.Via
	if input == "" {
		input = filepath.ToSlash(filepath.Clean(f.Source.File))
	}
	return f.key(input)
}

func (f Finding) key(input string) string {
	return strings.Join([]string{f.RuleID, f.Object.Kind, f.Object.Namespace, f.Object.Name,
		input, f.Field, f.Container, f.Subject}, "\x00")
}

// At makes a finding of rule r on object o at field, pointing at the field's line.
func (r *Rule) At(o *manifest.Object, field, container, msg string) Finding {
	return Finding{
		RuleID: r.ID, Severity: r.Severity, Object: o.Ref(),
		Field: field, Container: container, Message: msg, Source: o.SourceOf(field),
		FailClosed: r.FailClosed,
	}
}

// Catalogue is every rule the gate knows, by ID. gate/rules builds the one catalogue
// (rules.Catalogue); the policy is validated against it and the reports describe rules from it.
type Catalogue struct {
	all  []*Rule // sorted by ID
	byID map[string]*Rule
}

// NewCatalogue indexes rules; IDs must be unique.
func NewCatalogue(rules []*Rule) (*Catalogue, error) {
	c := &Catalogue{all: slices.Clone(rules), byID: make(map[string]*Rule, len(rules))}
	for _, r := range rules {
		if _, dup := c.byID[r.ID]; dup {
			return nil, fmt.Errorf("duplicate rule ID %s", r.ID)
		}
		c.byID[r.ID] = r
	}
	slices.SortFunc(c.all, func(a, b *Rule) int { return strings.Compare(a.ID, b.ID) })
	return c, nil
}

// All returns every rule, sorted by ID.
func (c *Catalogue) All() []*Rule { return c.all }

// Get returns the rule with the given ID.
func (c *Catalogue) Get(id string) (*Rule, bool) {
	r, ok := c.byID[id]
	return r, ok
}

// Fingerprint is the fingerprint of a key: 128 bits of its SHA-256, in hex.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}
