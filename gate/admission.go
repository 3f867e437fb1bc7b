package gate

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"

	"github.com/kubegate/kubegate/gate/admissionpolicy"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
)

// admission is what the admission policies and custom rules made of a run.
type admission struct {
	findings []finding.Finding
	rules    []*finding.Rule
	errors   []*manifest.Error
	notes    []string
}

// admissionStage evaluates the ValidatingAdmissionPolicies among objs and in
// opts.AdmissionPolicies, and the policy file's custom rules, against objs (whose trees
// must be kept). A policy that cannot be read or compiled is an input error: the run
// fails rather than pass without it.
func admissionStage(ctx context.Context, objs []*manifest.Object, opts Options) admission {
	p := policyOf(opts)
	var out admission
	policyObjs := objs
	if len(opts.AdmissionPolicies) > 0 {
		ro := opts.Render
		ro.Settle = func(o *manifest.Object) { o.KeepText(false) }
		ro.Stdin = nil
		r := render.Render(opts.AdmissionPolicies, ro)
		out.errors = append(out.errors, r.Errors...)
		out.notes = append(out.notes, r.Notes...)
		policyObjs = append(r.Objects, objs...)
		if !slices.ContainsFunc(r.Objects, admissionpolicy.IsPolicyKind) && len(r.Errors) == 0 {
			// A path that holds no policy is a mistake a run must not pass over.
			out.errors = append(out.errors, &manifest.Error{File: opts.AdmissionPolicies[0],
				Msg: "--admission-policies: no ValidatingAdmissionPolicy or binding (admissionregistration.k8s.io/v1) in the paths given"})
		}
	}
	ps := &admissionpolicy.Policies{}
	if len(opts.AdmissionPolicies) > 0 || slices.ContainsFunc(objs, admissionpolicy.IsPolicyKind) {
		var errs []*manifest.Error
		ps, errs = admissionpolicy.Load(policyObjs, opts.Render.Namespace)
		out.errors = append(out.errors, errs...)
		out.notes = append(out.notes, ps.Notes...)
	}
	if err := ps.WithCustom(p); err != nil {
		// Checked when the policy file was loaded (CheckCustom); a policy built in code
		// may not have been.
		out.errors = append(out.errors, &manifest.Error{File: p.File, Msg: err.Error()})
	}
	out.notes = append(out.notes, unknownVAPRules(p, ps.Rules)...)
	if ps.Empty() {
		return out
	}
	actions := p.Rules.Settings.AdmissionPolicyActions
	// The API server never sees a configuration file (a KubeletConfiguration).
	objs = slices.DeleteFunc(slices.Clone(objs), model.ConfigKind)
	var notes []string
	out.findings, notes = ps.Evaluate(ctx, objs, admissionpolicy.Options{
		Namespace: opts.Render.Namespace,
		Severity: func(a admv1.ValidationAction) finding.Severity {
			if s, ok := actions[string(a)]; ok {
				return s
			}
			return admissionpolicy.DefaultSeverity(a)
		},
	})
	out.rules = ps.Rules
	out.notes = append(out.notes, notes...)
	return out
}

// unknownVAPRules notes the admission policies' rule IDs the policy file disables or
// re-rates that no policy of the run has: the file can name them only once the inputs are
// read, and a misspelt one would otherwise leave a severity as it was without a word.
func unknownVAPRules(p *policy.Policy, rules []*finding.Rule) []string {
	known := map[string]bool{}
	for _, r := range rules {
		known[r.ID] = true
	}
	named := slices.AppendSeq(slices.Clone(p.Rules.Disable), maps.Keys(p.Rules.Severity))
	slices.Sort(named)
	var out []string
	for _, id := range slices.Compact(named) {
		if strings.HasPrefix(id, "vap:") && !known[id] {
			out = append(out, fmt.Sprintf("admission policies: %s names %s, which no admission policy among the inputs has (rules: vap:<policy>/<validation index>, vap:<policy>)", p.File, id))
		}
	}
	return out
}

// spooled is standard input, copied to a temporary file as it is read, so that it can
// be read again.
type spooled struct {
	r    io.Reader
	file *os.File
}

func newSpool(r io.Reader) (*spooled, error) {
	f, err := os.CreateTemp("", "kubegate-stdin-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name()) // gone when closed
	return &spooled{r: io.TeeReader(r, f), file: f}, nil
}

func (s *spooled) Read(p []byte) (int, error) { return s.r.Read(p) }

// again is the spooled input from its start.
func (s *spooled) again() io.Reader {
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		// Never a shorter input: the render reads this error as standard input's.
		return failedReader{err}
	}
	return s.file
}

type failedReader struct{ err error }

func (e failedReader) Read([]byte) (int, error) { return 0, e.err }

func (s *spooled) close() {
	if s != nil {
		_ = s.file.Close()
	}
}
