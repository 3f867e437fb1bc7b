package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/render"
	"github.com/kubegate/kubegate/gate/report"
	"github.com/kubegate/kubegate/gate/rules"
)

// inputFlags are the flags shared by check and render.
type inputFlags struct {
	config      string
	kubeVersion string
	render      render.Options
}

func (f *inputFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "policy file (default: kubegate.yaml in the working directory, if any)")
	fs.StringVar(&f.kubeVersion, "kube-version", "", "target Kubernetes version, e.g. 1.37 (overrides the policy's kubernetesVersion)")
	fs.StringArrayVarP(&f.render.ValuesFiles, "values", "f", nil, "Helm values file (repeatable; later files win)")
	fs.StringArrayVar(&f.render.SetValues, "set", nil, "Helm value, key=value (repeatable)")
	fs.StringVar(&f.render.ReleaseName, "release-name", "release-name", "Helm release name")
	fs.StringVarP(&f.render.Namespace, "namespace", "n", "", "namespace of objects that set none (as with kubectl apply -n); also the Helm release namespace")
	fs.DurationVar(&f.render.HelmTimeout, "helm-timeout", time.Minute, "stop a chart whose templates have not finished rendering after this long")
}

// loadPolicy reads the policy and applies flag overrides.
func (f *inputFlags) loadPolicy() (*policy.Policy, error) {
	var p *policy.Policy
	var err error
	if f.config != "" {
		p, err = policy.Load(f.config)
	} else {
		p, err = policy.Discover(".")
	}
	if err != nil {
		return nil, err
	}
	if f.kubeVersion != "" {
		if _, err := policy.ParseKubeMinor(f.kubeVersion); err != nil {
			return nil, fmt.Errorf("--kube-version: %v", err)
		}
		p.KubernetesVersion = f.kubeVersion
	}
	f.render.KubeVersion = p.KubernetesVersion
	return p, nil
}

// reportFlags are the flags of the commands that reach a verdict: what fails, and how the
// report is written.
type reportFlags struct {
	failOn  string
	format  string
	noColor bool
}

func (f *reportFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.failOn, "fail-on", "", "lowest severity that fails the gate: critical, high, medium, low, info (default from the policy: medium)")
	fs.StringVarP(&f.format, "format", "o", "text", "report format: text or json")
	fs.BoolVar(&f.noColor, "no-color", false, "never colour the text report (also: NO_COLOR=1)")
}

// apply validates the flags and sets the policy's failOn.
func (f *reportFlags) apply(p *policy.Policy) error {
	if f.failOn != "" {
		s, err := rules.ParseSeverity(f.failOn)
		if err != nil {
			return fmt.Errorf("--fail-on: %v", err)
		}
		p.FailOn = s
	}
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format must be text or json, got %q", f.format)
	}
	return nil
}

// write prints the report and turns the verdict into the exit code.
func (f *reportFlags) write(cmd *cobra.Command, res *gate.Result) error {
	out := cmd.OutOrStdout()
	var err error
	if f.format == "json" {
		err = report.JSON(out, res)
	} else {
		err = report.Text(out, res, report.TextOptions{Color: !f.noColor && isTerminal(out)})
	}
	if err != nil {
		return err
	}
	if code := res.ExitCode(); code != 0 {
		return exitError{code}
	}
	return nil
}

func newCheckCmd() *cobra.Command {
	var (
		in      inputFlags
		rep     reportFlags
		profile string
		images  imageFlags
	)
	cmd := &cobra.Command{
		Use:   "check PATH...",
		Short: "Render the inputs and check every object; exit 1 on findings at or above failOn",
		Long: "Render files, directories, Kustomize roots and Helm charts (or - for stdin) and check\n" +
			"every object against the rules. Exit codes: 0 pass, 1 findings at or above failOn,\n" +
			"2 usage, policy or input error.",
		Example: "  kubegate check deploy/overlays/prod charts/app\n" +
			"  helm template app charts/app | kubegate check -\n" +
			"  kubegate check --profile baseline --fail-on high --format json manifests/",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := in.loadPolicy()
			if err != nil {
				return err
			}
			if profile != "" {
				if profile != string(rules.Baseline) && profile != string(rules.Restricted) {
					return fmt.Errorf("--profile must be baseline or restricted, got %q", profile)
				}
				p.Profile = rules.Profile(profile)
			}
			if err := rep.apply(p); err != nil {
				return err
			}
			in.render.Stdin = cmd.InOrStdin()
			return rep.write(cmd, runGate(cmd, args, in, p, &images))
		},
	}
	in.register(cmd.Flags())
	cmd.Flags().StringVar(&profile, "profile", "", "Pod Security Standards level: baseline or restricted (default from the policy: restricted)")
	rep.register(cmd.Flags())
	images.register(cmd.Flags())
	return cmd
}

// runGate runs the gate with the image stage the flags configure.
func runGate(cmd *cobra.Command, paths []string, in inputFlags, p *policy.Policy, images *imageFlags) *gate.Result {
	checker, release := images.checker(p)
	defer release()
	return gate.Run(gate.Options{Paths: paths, Render: in.render, Policy: p, Offline: images.offline,
		Images: checker, Context: cmd.Context()})
}

func isTerminal(w any) bool {
	if os.Getenv("NO_COLOR") != "" || strings.EqualFold(os.Getenv("TERM"), "dumb") {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
