package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/admissionpolicy"
	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
	"github.com/kubegate/kubegate/gate/report"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/internal/glob"
)

// inputFlags are the flags shared by check and render.
type inputFlags struct {
	config              string
	kubeVersion         string
	render              render.Options
	skipDirs, skipFiles []string
	admissionPolicies   []string // check --admission-policies
}

func (f *inputFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "policy file (default: kubegate.yaml in the working directory, if any)")
	fs.StringVar(&f.kubeVersion, "kube-version", "", "target Kubernetes version, e.g. 1.37 (overrides the policy's kubernetesVersion)")
	fs.StringArrayVarP(&f.render.ValuesFiles, "values", "f", nil, "Helm values file (repeatable; later files win)")
	fs.StringArrayVar(&f.render.SetValues, "set", nil, "Helm value, key=value (repeatable)")
	fs.StringVar(&f.render.ReleaseName, "release-name", "release-name", "Helm release name")
	fs.StringVarP(&f.render.Namespace, "namespace", "n", "", "namespace of objects that set none (as with kubectl apply -n); also the Helm release namespace")
	fs.DurationVar(&f.render.HelmTimeout, "helm-timeout", time.Minute, "stop a chart whose templates have not finished rendering after this long")
	fs.StringSliceVar(&f.skipDirs, "skip-dirs", nil, "directories to leave out when a directory is checked, globs (comma-separated or repeated; also the policy's skipDirs): testdata, charts/*/ci, **/vendor")
	fs.StringSliceVar(&f.skipFiles, "skip-files", nil, "files to leave out when a directory is checked, globs (also the policy's skipFiles): *.test.yaml, deploy/legacy/*.yaml")
}

// checkArgs rejects argument mistakes that would otherwise pass silently: stdin named
// twice, and Helm values files (-f) with no chart to apply them to.
func (f *inputFlags) checkArgs(args []string) error {
	if n := len(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a != "-" })); n > 1 {
		return errors.New("standard input (-) can be read only once")
	}
	if len(f.render.ValuesFiles) > 0 && len(args) == 0 {
		return fmt.Errorf("-f/--values is a Helm values file; name the manifests, Kustomize roots or charts to check as arguments: kubegate check CHART -f %s", f.render.ValuesFiles[0])
	}
	if len(f.render.ValuesFiles) > 0 || len(f.render.SetValues) > 0 {
		for _, a := range args {
			if render.HasChart(a) {
				return nil
			}
		}
		what := "-f " + strings.Join(f.render.ValuesFiles, " -f ")
		if len(f.render.ValuesFiles) == 0 {
			what = "--set"
		}
		return fmt.Errorf("%s: Helm values, but no Helm chart (a directory with Chart.yaml) is among the arguments %s; manifests are checked as arguments, not with -f", what, strings.Join(args, " "))
	}
	return nil
}

// loadPolicy reads the policy and applies flag overrides.
func (f *inputFlags) loadPolicy() (*policy.Policy, error) {
	var p *policy.Policy
	var err error
	if f.config != "" {
		p, err = policy.Load(f.config, rules.Catalogue())
	} else {
		p, err = policy.Discover(".", rules.Catalogue())
	}
	if err != nil {
		return nil, err
	}
	if err := admissionpolicy.CheckCustom(p); err != nil {
		return nil, err
	}
	if f.kubeVersion != "" {
		if _, err := policy.ParseKubeMinor(f.kubeVersion); err != nil {
			return nil, fmt.Errorf("--kube-version: %v", err)
		}
		p.KubernetesVersion = f.kubeVersion
	}
	f.render.KubeVersion = p.KubernetesVersion
	f.render.SkipDirs = append(slices.Clone(p.SkipDirs), f.skipDirs...)
	f.render.SkipFiles = append(slices.Clone(p.SkipFiles), f.skipFiles...)
	for _, g := range append(slices.Clone(f.skipDirs), f.skipFiles...) {
		if !glob.Valid(g) || strings.TrimSpace(g) == "" {
			return nil, fmt.Errorf("--skip-dirs/--skip-files: bad glob %q", g)
		}
	}
	return p, nil
}

// reportFlags are the flags of the commands that reach a verdict: what fails, and how the
// report is written.
type reportFlags struct {
	failOn        string
	format        string
	outputs       []string
	noColor       bool
	githubActions bool
	exitCode      int
	severities    []string
	show          map[finding.Severity]bool // nil: every severity
}

func (f *reportFlags) register(fs *pflag.FlagSet) {
	formats := strings.Join(report.Formats(), ", ")
	fs.StringVar(&f.failOn, "fail-on", "", "lowest severity that fails the gate: critical, high, medium, low, info (default from the policy: medium); an image that could not be checked fails at any level")
	fs.StringVar(&f.format, "format", "text", "report format on standard output: "+formats)
	deprecatedAlias(fs, "format", "", "o", "in trivy -o names the output file; here files are written with --output FORMAT=PATH")
	fs.StringArrayVar(&f.outputs, "output", nil, "also write a report to a file, FORMAT=PATH (repeatable), e.g. sarif=kubegate.sarif")
	fs.BoolVar(&f.noColor, "no-color", false, "never colour the text report (also: NO_COLOR=1)")
	fs.IntVar(&f.exitCode, "exit-code", 1, "exit code when the gate fails on findings; 0 reports without failing (input and policy errors still exit 2)")
	fs.StringSliceVar(&f.severities, "severity", nil, "report only findings of these severities, e.g. critical,high (the others are left out of the reports and the verdict; an image that could not be checked is always reported)")
	fs.BoolVar(&f.githubActions, "github-actions", os.Getenv("GITHUB_ACTIONS") == "true",
		"annotate findings with workflow commands, append a job summary to $GITHUB_STEP_SUMMARY and set step outputs in $GITHUB_OUTPUT (default: on when GITHUB_ACTIONS=true)")
}

// apply validates the flags and sets the policy's failOn.
func (f *reportFlags) apply(p *policy.Policy) error {
	if f.failOn != "" {
		s, err := finding.ParseSeverity(f.failOn)
		if err != nil {
			return fmt.Errorf("--fail-on: %v", err)
		}
		p.FailOn = s
	}
	if f.exitCode == 2 || f.exitCode < 0 || f.exitCode > 125 {
		return fmt.Errorf("--exit-code must be 0, 1 or 3 to 125 (2 means an input or policy error), got %d", f.exitCode)
	}
	if len(f.severities) > 0 {
		f.show = map[finding.Severity]bool{}
		for _, name := range f.severities {
			s, err := finding.ParseSeverity(name)
			if err != nil {
				return fmt.Errorf("--severity: %v", err)
			}
			f.show[s] = true
		}
	}
	if !slices.Contains(report.Formats(), f.format) {
		return fmt.Errorf("--format must be one of %s, got %q", strings.Join(report.Formats(), ", "), f.format)
	}
	for _, o := range f.outputs {
		format, path, ok := strings.Cut(o, "=")
		if !ok || path == "" {
			return fmt.Errorf("--output %q: want FORMAT=PATH, e.g. sarif=kubegate.sarif", o)
		}
		if !slices.Contains(report.Formats(), format) {
			return fmt.Errorf("--output %q: format must be one of %s", o, strings.Join(report.Formats(), ", "))
		}
	}
	return nil
}

// write prints the report, writes the --output files and, in GitHub Actions, the
// annotations, job summary and step outputs; then turns the verdict into the exit code.
func (f *reportFlags) write(cmd *cobra.Command, res *gate.Result) error {
	out := cmd.OutOrStdout()
	f.filter(res)
	code := res.ExitCode()
	if code == 1 && f.exitCode != 1 {
		if f.exitCode == 0 {
			res.Notes = append(res.Notes, "report only (--exit-code 0): the gate fails, and kubegate exits 0")
		}
		code = f.exitCode
	}
	o := report.Options{Version: version, Root: repoRoot()}
	stdout := o
	stdout.Color = f.format == "text" && !f.noColor && isTerminal(out)
	if err := report.Write(out, f.format, res, stdout); err != nil {
		return err
	}
	sarifFile := ""
	for _, spec := range f.outputs {
		format, path, _ := strings.Cut(spec, "=")
		if err := writeReport(path, format, res, o); err != nil {
			return err
		}
		if format == "sarif" {
			sarifFile = path
		}
	}
	if f.githubActions {
		// Workflow commands are read from either stream: keep stdout parseable when it
		// carries a machine-readable report.
		annotations := out
		if f.format != "text" {
			annotations = cmd.ErrOrStderr()
		}
		if err := githubActions(annotations, res, o, f.format == "github", sarifFile); err != nil {
			return err
		}
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// filter leaves out the findings whose severity --severity does not name, except those
// of images that could not be checked (they fail closed, so they are always shown).
func (f *reportFlags) filter(res *gate.Result) {
	if f.show == nil {
		return
	}
	n := len(res.Findings)
	res.Findings = slices.DeleteFunc(res.Findings, func(x finding.Finding) bool { return !f.show[x.Severity] && !x.FailClosed })
	if left := n - len(res.Findings); left > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("--severity %s: %s of other severities left out", strings.Join(f.severities, ","), report.Count(left, "finding", "findings")))
	}
}

// writeReport writes one report file, creating its directory.
func writeReport(path, format string, res *gate.Result, o report.Options) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	err = report.Write(file, format, res, o)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--output %s=%s: %w", format, path, err)
	}
	return nil
}

// repoRoot is the directory report paths are relative to: the CI's checkout
// (GITHUB_WORKSPACE, CI_PROJECT_DIR) when the working directory is inside it, else the
// enclosing git work tree, else the working directory.
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for _, env := range []string{"GITHUB_WORKSPACE", "CI_PROJECT_DIR"} {
		if dir := os.Getenv(env); dir != "" {
			if rel, err := filepath.Rel(dir, wd); err == nil && !strings.HasPrefix(rel, "..") {
				return dir
			}
		}
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

func newCheckCmd() *cobra.Command {
	var (
		in            inputFlags
		rep           reportFlags
		profile       string
		images        imageFlags
		baseline      string
		writeBaseline string
		validateOnly  bool
		diffBase      string
	)
	cmd := &cobra.Command{
		Use:   "check PATH...",
		Short: "Render the inputs and check every object; exit 1 on findings at or above failOn",
		Long: "Render files, directories, Kustomize roots and Helm charts (or - for stdin) and check\n" +
			"every object against the rules. Exit codes: 0 pass, 1 findings at or above failOn or an\n" +
			"image that could not be checked (resolved, verified, scanned) at any failOn,\n" +
			"2 usage, policy or input error.",
		Example: "  kubegate check deploy/overlays/prod charts/app\n" +
			"  helm template app charts/app | kubegate check -\n" +
			"  kubegate check --profile baseline --fail-on high --format json manifests/",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := in.checkArgs(args); err != nil {
				return err
			}
			if len(args) == 0 {
				return errors.New("name the manifests, directories, Kustomize roots or Helm charts to check (- for standard input): kubegate check deploy/")
			}
			p, err := in.loadPolicy()
			if err != nil {
				return err
			}
			if profile != "" {
				if profile != string(policy.ProfileBaseline) && profile != string(policy.ProfileRestricted) {
					return fmt.Errorf("--profile must be baseline or restricted, got %q", profile)
				}
				p.Profile = policy.Profile(profile)
			}
			if slices.Contains(in.admissionPolicies, "-") {
				return errors.New("--admission-policies -: name the files or directories of the policies (standard input is for the objects to check)")
			}
			if diffBase != "" {
				if slices.Contains(args, "-") {
					return errors.New("--diff-base compares two commits' files; standard input (-) has no base: name the files")
				}
				if writeBaseline != "" {
					return errors.New("--write-baseline records every finding; it does not combine with --diff-base")
				}
			}
			if err := rep.apply(p); err != nil || validateOnly {
				return err // --validate-only: everything above held; check nothing
			}
			in.render.Stdin = cmd.InOrStdin()
			var base *policy.Baseline
			if baseline != "" && writeBaseline == "" {
				if base, err = policy.LoadBaseline(baseline); err != nil {
					return err
				}
			}
			res, err := runGate(cmd, args, in, p, &images, base, diffBase)
			if err != nil {
				return err
			}
			if writeBaseline != "" && len(res.Errors) > 0 {
				res.Notes = append(res.Notes, "baseline: not written to "+writeBaseline+": fix the input errors first")
			} else if writeBaseline != "" {
				b := policy.NewBaseline(res.Findings)
				if err := b.Write(writeBaseline); err != nil {
					return err
				}
				res.Notes = append(res.Notes, fmt.Sprintf("baseline: wrote %d findings to %s; from now on only findings not in it fail (--baseline %s)",
					len(b.Findings), writeBaseline, writeBaseline))
				res.Findings, res.Baselined, _ = b.Split(res.Findings)
				if len(res.Findings) > 0 {
					res.Notes = append(res.Notes, fmt.Sprintf("baseline: %d findings of images that could not be checked are never baselined", len(res.Findings)))
				}
			}
			return rep.write(cmd, res)
		},
	}
	in.register(cmd.Flags())
	cmd.Flags().StringVar(&profile, "profile", "", "Pod Security Standards level: baseline or restricted (default from the policy: restricted)")
	rep.register(cmd.Flags())
	cmd.Flags().StringVar(&baseline, "baseline", "", "accept the findings recorded in FILE: only new findings fail (matched by rule, object and field, not line)")
	cmd.Flags().StringVar(&writeBaseline, "write-baseline", "", "record the current findings in FILE as the baseline (and pass, unless an input fails)")
	images.register(cmd.Flags())
	cmd.Flags().StringVar(&diffBase, "diff-base", "", "gate the change, not the history: also check the inputs at git commit REF (exported from the repository, no checkout) and fail only on findings the working tree adds; the report lists them as new, the ones it removes as fixed, and the rendered objects added, removed and changed")
	cmd.Flags().StringArrayVar(&in.admissionPolicies, "admission-policies", nil, "ValidatingAdmissionPolicies, their bindings and params to enforce on the checked objects, as the API server would on their creation: a file, directory or Kustomize root (repeatable); policies among the checked inputs are enforced too")
	cmd.Flags().BoolVar(&validateOnly, "validate-only", false, "check the flags, arguments and policy, and stop (what `hook install` does with the hook's arguments)")
	_ = cmd.Flags().MarkHidden("validate-only")
	return cmd
}

// runGate runs the gate with the image stage the flags configure and the baseline, if any;
// with diffBase, on the base too, and compares the two.
func runGate(cmd *cobra.Command, paths []string, in inputFlags, p *policy.Policy, images *imageFlags, baseline *policy.Baseline, diffBase string) (*gate.Result, error) {
	images.progress = cmd.ErrOrStderr()
	checker, release, err := images.checker(p)
	if err != nil {
		return nil, err
	}
	defer release()
	opts := gate.Options{Paths: paths, Render: in.render, Policy: p, Offline: images.offline,
		Images: checker, Baseline: baseline, KeepObjects: diffBase != "", AdmissionPolicies: in.admissionPolicies}
	res := gate.Run(cmd.Context(), opts)
	if images.attester != nil { // made by checker, which refuses it with --offline
		attestVerdicts(cmd.Context(), images.attester, res)
	}
	if diffBase != "" {
		base, name, err := runBase(cmd, diffBase, opts)
		if err != nil {
			return nil, err
		}
		res.Compare(base, name)
	}
	return res, nil
}

func isTerminal(w any) bool {
	if os.Getenv("NO_COLOR") != "" || strings.EqualFold(os.Getenv("TERM"), "dumb") {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
