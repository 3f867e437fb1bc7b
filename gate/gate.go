// Package gate is the pipeline: render the inputs, run the rules, apply the policy, and
// reach a verdict. Commands call Run and hand the Result to a report.
package gate

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kubegate/kubegate/gate/admissionpolicy"
	"github.com/kubegate/kubegate/gate/diff"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/node"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/gate/schema"
	"github.com/kubegate/kubegate/images"
)

// Options for one run of the gate.
type Options struct {
	Paths   []string
	Render  render.Options
	Policy  *policy.Policy
	Offline bool
	Now     time.Time // when exemptions are judged; zero means now
	// Images checks the images the objects use (registry, signatures, vulnerabilities);
	// nil or Offline: images are listed as not checked.
	Images *images.Checker
	// Baseline accepts the findings it lists: they are reported as baselined and do not
	// fail the gate.
	Baseline *policy.Baseline
	// KeepObjects keeps the rendered objects in the result, for Compare.
	KeepObjects bool
	// AdmissionPolicies are files, directories or Kustomize roots that hold
	// ValidatingAdmissionPolicies, their bindings and params (--admission-policies):
	// evaluated against the checked objects, and not checked themselves.
	AdmissionPolicies []string
}

// Verdict is the outcome of a run.
type Verdict string

const (
	Pass  Verdict = "pass"  // exit 0
	Fail  Verdict = "fail"  // exit 1: findings at or above failOn
	Error Verdict = "error" // exit 2: an input could not be read or rendered
)

// Result is what reports show.
type Result struct {
	Objects  int
	Findings []finding.Finding
	Exempted []finding.Finding
	// Baselined are the findings the baseline accepted.
	Baselined []finding.Finding
	// Checked are the objects checked, in input order (reports that list passing objects).
	Checked []Checked
	Errors  []*manifest.Error
	Notes   []string
	FailOn  finding.Severity
	// Images are the verdicts of the image stage, one per distinct image.
	Images []*images.Verdict
	// NotChecked are the images the manifests use that were not checked (--offline).
	NotChecked []*images.Image
	// Diff compares the run with the base of the change it checks (check --diff-base):
	// findings are then new or unchanged, and unchanged ones do not fail. nil otherwise.
	Diff *Diff
	// Rules describe the rules of the run the catalogue does not hold: each validation of
	// an admission policy, each custom rule of the policy file.
	Rules []*finding.Rule

	objects []*manifest.Object // with Options.KeepObjects
}

// Diff is what a change does, against its base.
type Diff struct {
	// Base is the base as the user named it, with its commit.
	Base string
	// Fixed are the base's findings the change removes.
	Fixed []finding.Finding
	// Objects are the rendered objects the change adds, removes and changes.
	Objects diff.Objects
}

// MovePaths rewrites the paths r names below from (files, Kustomize roots and charts,
// values files, input errors) to below to: a run on an exported tree (check --diff-base)
// then names the same files as the run on the working tree, and its findings match.
func (r *Result) MovePaths(from, to string) {
	from = filepath.Clean(from) + string(filepath.Separator)
	to = filepath.Clean(to) + string(filepath.Separator)
	move := func(p string) string {
		if rest, ok := strings.CutPrefix(p, from); ok {
			return to + rest
		}
		return p
	}
	source := func(s *manifest.Source) {
		s.File = move(s.File)
		if kind, p, ok := strings.Cut(s.Via, ":"); ok {
			s.Via = kind + ":" + move(p)
		}
		if s.Values != nil {
			v := *s.Values
			v.File = move(v.File)
			s.Values = &v
		}
	}
	for _, fs := range [][]finding.Finding{r.Findings, r.Exempted, r.Baselined} {
		for i := range fs {
			source(&fs[i].Source)
		}
	}
	for i := range r.Checked {
		source(&r.Checked[i].Source)
	}
	for _, e := range r.Errors {
		e.File = move(e.File)
	}
	for _, o := range r.objects {
		source(&o.Source)
	}
}

// Compare judges r against base, a run with the same options on the change's base; both
// must have kept their objects (Options.KeepObjects). Each finding of r becomes new or
// unchanged (Finding.Status), the base's findings r lacks are fixed, and the rendered
// objects are compared. Exemptions and the baseline applied to each run as usual: a
// finding the change un-exempts is new. The base's input errors are a note, not errors of
// r: the findings of what the base could not render all count as new.
func (r *Result) Compare(base *Result, name string) {
	d := &Diff{Base: name}
	d.Fixed = diff.Findings(r.Findings, base.Findings)
	d.Objects = diff.Compare(r.objects, base.objects)
	d.Objects.Sort()
	r.Diff = d
	if len(base.Errors) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("diff base %s: %d input errors (the first: %s): the findings of what it could not render count as new",
			name, len(base.Errors), base.Errors[0]))
	}
}

// Rule describes a rule of the run: of the catalogue, or of Rules.
func (r *Result) Rule(id string) (*finding.Rule, bool) {
	if rule, ok := rules.Lookup(id); ok {
		return rule, true
	}
	for _, rule := range r.Rules {
		if rule.ID == id {
			return rule, true
		}
	}
	return nil, false
}

// Checked is one object the rules saw.
type Checked struct {
	Object manifest.Ref
	Source manifest.Source
}

// Verdict is error when an input could not be read or rendered, else fail when a finding
// fails the gate, else pass.
func (r *Result) Verdict() Verdict {
	switch {
	case len(r.Errors) > 0:
		return Error
	case slices.ContainsFunc(r.Findings, r.Fails):
		return Fail
	}
	return Pass
}

// Fails says whether a finding fails the gate: at or above failOn, or a check that could
// not be done (an image not resolved, verified or scanned), whatever its severity.
func (r *Result) Fails(f finding.Finding) bool { return finding.Fails(f, r.FailOn) }

// ExitCode is the process exit code for the verdict.
func (r *Result) ExitCode() int {
	switch r.Verdict() {
	case Fail:
		return 1
	case Error:
		return 2
	}
	return 0
}

// Run renders the inputs and checks them; ctx cancels the image stage.
func Run(ctx context.Context, opts Options) *Result {
	validate := rules.SchemaChecked(policyOf(opts).Enabled)
	if validate {
		schema.Preload() // decoded while the inputs are read
	}
	opts.Render.Settle = func(o *manifest.Object) { model.Settle(o, validate) }
	// Compare and the admission policies read the trees; the text they were read from can go.
	keepTrees := func(o *manifest.Object) { o.KeepText(false) }
	keep := opts.KeepObjects || len(opts.AdmissionPolicies) > 0 || len(policyOf(opts).Rules.Custom) > 0
	if keep {
		opts.Render.Settle = keepTrees
	}
	var spool *spooled
	if !keep && slices.Contains(opts.Paths, "-") {
		// Read once more if it holds admission policies; without a place to keep a
		// copy, every tree is kept from the start.
		in := opts.Render.Stdin
		if in == nil {
			in = os.Stdin
		}
		var err error
		if spool, err = newSpool(in); err != nil {
			keep, opts.Render.Settle = true, keepTrees
		} else {
			opts.Render.Stdin = spool
		}
	}
	rendered := render.Render(opts.Paths, opts.Render)
	if !keep && slices.ContainsFunc(rendered.Objects, admissionpolicy.IsPolicyKind) {
		// The inputs hold admission policies, which read every object's tree, released
		// as it was rendered: render again, keeping them. Only a run whose inputs hold
		// policies pays for this (--admission-policies names them in advance).
		opts.Render.Settle = keepTrees
		if spool != nil {
			opts.Render.Stdin = spool.again()
		}
		rendered = render.Render(opts.Paths, opts.Render)
	}
	spool.close()
	admission := admissionStage(ctx, rendered.Objects, opts)
	set, findings := evaluate(rendered.Objects, opts)
	findings = append(findings, enabled(opts, admission.findings)...)
	used := images.Collect(set)
	var verdicts []*images.Verdict
	if !opts.Offline && opts.Images != nil {
		verdicts = opts.Images.Check(ctx, used)
		findings = append(findings, enabled(opts, images.Findings(verdicts))...)
	}
	res := judge(rendered.Objects, set, findings, opts)
	res.Images = verdicts
	res.Rules = admission.rules
	if opts.KeepObjects {
		res.objects = rendered.Objects
	}
	res.Errors = append(append(rendered.Errors, admission.errors...), res.Errors...)
	slices.SortStableFunc(res.Errors, func(a, b *manifest.Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	res.Notes = append(res.Notes, rendered.Notes...)
	res.Notes = append(res.Notes, admission.notes...)
	switch {
	case verdicts != nil:
		cached := 0
		var reused, notReused []string
		for _, v := range verdicts {
			if v.Cached {
				cached++
			}
			if v.Reused != "" {
				reused = append(reused, v.Image.Ref+": "+v.Reused)
			}
			if v.NotReused != "" {
				notReused = append(notReused, v.NotReused)
			}
		}
		note := fmt.Sprintf("images: %d checked (%d from cache)", len(verdicts), cached)
		if len(reused) > 0 {
			note = fmt.Sprintf("images: %d checked (%d from cache, %d from verdict attestations)", len(verdicts), cached, len(reused))
		}
		res.Notes = append(res.Notes, note)
		for _, r := range reused {
			res.Notes = append(res.Notes, "images: "+r)
		}
		for _, r := range notReused { // checked in full instead
			res.Notes = append(res.Notes, "images: "+r+"; checked in full")
		}
	case len(used) > 0:
		res.NotChecked = used
		res.Notes = append(res.Notes, fmt.Sprintf("images: %d not checked (--offline): %s", len(used), imageRefs(used)))
	}
	return res
}

func imageRefs(ims []*images.Image) string {
	refs := make([]string, len(ims))
	for i, im := range ims {
		refs[i] = im.Ref
	}
	return strings.Join(refs, ", ")
}

// RunNode audits the node files under root (modes and owners, with stat), then checks the
// static Pod manifests, kubelet config and kubelet flag files found there.
func RunNode(root string, stat node.Stat, opts Options) *Result {
	rendered := render.Render(node.Inputs(root), opts.Render)
	set, findings := evaluate(rendered.Objects, opts)
	// Where this node keeps etcd's data and which CA its kubelet trusts decide which files
	// the audit checks.
	dataDir, _ := set.Setting("etcd", "data-dir", "")
	clientCA, _ := set.Setting("kubelet", "client-ca-file", "authentication.x509.clientCAFile")
	audit, err := node.Audit(root, stat, dataDir, clientCA)
	if err != nil {
		return &Result{Errors: []*manifest.Error{{File: root, Msg: err.Error()}}, FailOn: policyOf(opts).FailOn}
	}
	res := judge(rendered.Objects, set, append(findings, enabled(opts, audit.Findings)...), opts)
	res.Errors = append(rendered.Errors, res.Errors...)
	res.Notes = append(res.Notes, rendered.Notes...)
	res.Notes = append(res.Notes, fmt.Sprintf("node: %d files checked for mode and owner under %s", audit.Checked, root))
	return res
}

// Check runs the rules and the policy over rendered objects; of opts it reads the policy,
// the time and the namespace objects without one are deployed to.
func Check(objs []*manifest.Object, opts Options) *Result {
	admission := admissionStage(context.Background(), objs, opts)
	set, findings := evaluate(objs, opts)
	res := judge(objs, set, append(findings, enabled(opts, admission.findings)...), opts)
	res.Rules = admission.rules
	res.Errors = append(admission.errors, res.Errors...)
	res.Notes = append(res.Notes, admission.notes...)
	return res
}

func policyOf(opts Options) *policy.Policy {
	if opts.Policy == nil {
		return policy.Default()
	}
	return opts.Policy
}

func nowOf(opts Options) time.Time {
	if opts.Now.IsZero() {
		return time.Now()
	}
	return opts.Now
}

// evaluate builds the set the rules read and runs the rules the policy enables.
func evaluate(objs []*manifest.Object, opts Options) (*model.Set, []finding.Finding) {
	p := policyOf(opts)
	set := model.NewSet(objs, model.Options{Policy: p, Namespace: opts.Render.Namespace, Now: nowOf(opts)})
	return set, rules.Run(set, p.Enabled)
}

// enabled keeps the findings of another stage (images, the node audit) whose rules the
// policy enables.
func enabled(opts Options, fs []finding.Finding) []finding.Finding {
	p := policyOf(opts)
	return slices.DeleteFunc(fs, func(f finding.Finding) bool { return !p.Enabled(f.RuleID) })
}

// judge applies the policy (exemptions, baseline) to the findings and reaches the result.
func judge(objs []*manifest.Object, set *model.Set, findings []finding.Finding, opts Options) *Result {
	p, now := policyOf(opts), nowOf(opts)
	// Whether a finding fails closed is the catalogue's word, whatever stage made it.
	for i, f := range findings { // (no rule of the run's own, Result.Rules, fails closed)
		if r, ok := rules.Lookup(f.RuleID); ok && r.FailClosed {
			findings[i].FailClosed = true
		}
	}
	var notes []string
	// With the schema rules off, nothing is validated, not even for this note.
	if rules.SchemaChecked(p.Enabled) {
		if kinds := set.NotValidated(); len(kinds) > 0 {
			notes = append(notes, fmt.Sprintf("schema: not validated (no schema among the inputs or built in): %s", strings.Join(kinds, ", ")))
		}
	}
	outcome := p.Apply(findings, objs, now)
	sortFindings(outcome.Findings)
	setFingerprints(outcome.Findings)
	res := &Result{
		Objects: len(objs), Findings: outcome.Findings, Exempted: outcome.Exempted,
		Errors: set.Errors, FailOn: p.FailOn, Checked: make([]Checked, len(objs)), Notes: notes,
	}
	for i, o := range objs {
		res.Checked[i] = Checked{Object: o.Ref(), Source: o.Source}
	}
	if b := opts.Baseline; b != nil {
		var unmatched []policy.BaselineEntry
		res.Findings, res.Baselined, unmatched = b.Split(res.Findings)
		note := fmt.Sprintf("baseline: %d findings accepted by %s", len(res.Baselined), b.File)
		if len(unmatched) > 0 {
			note += fmt.Sprintf("; %d of its entries match nothing any more (fixed?): rewrite it with --write-baseline", len(unmatched))
		}
		res.Notes = append(res.Notes, note)
	}
	return res
}

// sortFindings orders findings by file, line, rule, object, message: reports diff cleanly.
func sortFindings(fs []finding.Finding) {
	slices.SortStableFunc(fs, func(a, b finding.Finding) int {
		return cmp.Or(
			cmp.Compare(a.Source.File, b.Source.File), cmp.Compare(a.Source.Line, b.Source.Line),
			cmp.Compare(a.RuleID, b.RuleID), cmp.Compare(a.Object.String(), b.Object.String()),
			cmp.Compare(a.Message, b.Message))
	})
}
