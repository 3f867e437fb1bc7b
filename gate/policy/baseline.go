package policy

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/gate/finding"
)

// BaselineKind is the kind of a baseline file.
const BaselineKind = "Baseline"

// Baseline is the set of findings a project accepted when it adopted the gate
// (`kubegate check --write-baseline FILE`): later runs fail only on findings not in it.
// Entries are matched by fingerprint — rule, object, field, container, image — so they
// survive edits that move lines; rule, object and at are there for the people who review it.
type Baseline struct {
	APIVersion string          `yaml:"apiVersion"`
	Kind       string          `yaml:"kind"`
	Findings   []BaselineEntry `yaml:"findings"`

	File string `yaml:"-"`
}

// BaselineEntry is one accepted finding.
type BaselineEntry struct {
	Fingerprint string `yaml:"fingerprint"`
	Rule        string `yaml:"rule"`
	Object      string `yaml:"object"`
	At          string `yaml:"at"`
}

// NewBaseline records findings (sorted, fingerprinted by the gate).
func NewBaseline(findings []finding.Finding) *Baseline {
	b := &Baseline{APIVersion: APIVersion, Kind: BaselineKind, Findings: []BaselineEntry{}}
	for _, f := range findings {
		if f.FailClosed { // an image that could not be checked is never accepted
			continue
		}
		b.Findings = append(b.Findings, BaselineEntry{Fingerprint: f.Fingerprint, Rule: f.RuleID,
			Object: f.Object.String(), At: f.Source.String()})
	}
	return b
}

// LoadBaseline reads a baseline file strictly: a mistyped file must not silently accept
// nothing or everything.
func LoadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	var b Baseline
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&b); err != nil {
		return nil, yamlError(path, err)
	}
	if b.APIVersion != APIVersion || b.Kind != BaselineKind {
		return nil, fmt.Errorf("%s: not a kubegate baseline (want apiVersion %s, kind %s; write one with --write-baseline)",
			path, APIVersion, BaselineKind)
	}
	for i, e := range b.Findings {
		if e.Fingerprint == "" {
			return nil, fmt.Errorf("%s: findings[%d] has no fingerprint", path, i)
		}
	}
	b.File = path
	return &b, nil
}

// Write saves the baseline, with a header saying what it is.
func (b *Baseline) Write(path string) error {
	var buf bytes.Buffer
	buf.WriteString("# Findings accepted by `kubegate check --baseline` (written by --write-baseline).\n" +
		"# Matched by fingerprint (rule, object, field, container, image), not by line.\n" +
		"# Delete an entry once it is fixed; findings not listed here fail the gate.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(b); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	return nil
}

// Split separates the findings the baseline accepts from the new ones, and returns the
// entries that matched nothing (fixed since the baseline was written). An entry accepts
// one finding.
func (b *Baseline) Split(findings []finding.Finding) (fresh, accepted []finding.Finding, unmatched []BaselineEntry) {
	left := make(map[string]int, len(b.Findings))
	for _, e := range b.Findings {
		left[e.Fingerprint]++
	}
	for _, f := range findings {
		if fp := entryFor(f, left); fp != "" {
			left[fp]--
			accepted = append(accepted, f)
			continue
		}
		fresh = append(fresh, f)
	}
	for _, e := range b.Findings {
		if left[e.Fingerprint] > 0 {
			left[e.Fingerprint]--
			unmatched = append(unmatched, e)
		}
	}
	return fresh, accepted, unmatched
}

// entryFor is the fingerprint under which the baseline still accepts f: its own or, in a
// baseline written before plain file names left the fingerprint, its previous one; "" if
// none (and always for a finding of an image that could not be checked).
func entryFor(f finding.Finding, left map[string]int) string {
	if f.FailClosed {
		return ""
	}
	for _, fp := range []string{f.Fingerprint, f.PreviousFingerprint} {
		if fp != "" && left[fp] > 0 {
			return fp
		}
	}
	return ""
}
