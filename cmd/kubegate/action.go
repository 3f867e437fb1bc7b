package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubegate/kubegate/internal/prepush"
	"github.com/kubegate/kubegate/internal/shellwords"
)

// actionInput reads an input of action.yml as its step passes it: INPUT_ and the name in
// upper case with _ for - (POSIX shells drop a variable named INPUT_FAIL-ON).
func actionInput(name string) string {
	return strings.TrimSpace(os.Getenv(actionEnv(name)))
}

func actionEnv(input string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(input, "-", "_"))
}

// newGitHubActionCmd is the entrypoint of action.yml: it turns the INPUT_* variables into a
// check command line and runs it with the GitHub Actions integration on. Reading the inputs
// here, not in a shell script, keeps them out of any shell: a path or argument cannot
// inject commands.
func newGitHubActionCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "github-action",
		Short:  "Run check from the GitHub Action's inputs (INPUT_* variables); the entrypoint of action.yml",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args, err := actionArgs()
			if err != nil {
				return err
			}
			if base := actionDiffBase(); base != "" {
				// actions/checkout clones one commit deep: fetch the base if it is not there.
				if err := prepush.Fetch(cmd.Context(), "origin", base); err != nil {
					return fmt.Errorf("input diff-base: %w", err)
				}
			}
			check := newCheckCmd()
			check.SetArgs(args)
			check.SetIn(cmd.InOrStdin())
			check.SetOut(cmd.OutOrStdout())
			check.SetErr(cmd.ErrOrStderr())
			check.SilenceErrors, check.SilenceUsage = true, true
			return check.ExecuteContext(cmd.Context())
		},
	}
}

// actionDiffBase is the commit the action compares with: the input diff-base, else on a
// pull request its base commit; "none" turns it off.
func actionDiffBase() string {
	base := actionInput("diff-base")
	if base == "" {
		base = strings.TrimSpace(os.Getenv("KUBEGATE_PR_BASE"))
	}
	if base == "none" {
		return ""
	}
	return base
}

// actionArgs builds check's arguments from the action's inputs.
func actionArgs() ([]string, error) {
	args := []string{"--github-actions"}
	for _, in := range []struct{ input, flag string }{
		{"config", "--config"}, {"profile", "--profile"}, {"fail-on", "--fail-on"}, {"kube-version", "--kube-version"},
	} {
		if v := actionInput(in.input); v != "" {
			args = append(args, in.flag, v)
		}
	}
	if v := actionInput("sarif-file"); v != "" {
		args = append(args, "--output", "sarif="+v)
	}
	switch v := actionInput("offline"); v {
	case "", "false":
	case "true":
		args = append(args, "--offline")
	default:
		return nil, fmt.Errorf("input offline must be true or false, got %q", v)
	}
	// The cache the action restores (input cache): Trivy's DB and the verdicts. On today's
	// exact key the DB was downloaded or found fresh today: used as it is, so a repository's
	// jobs download it at most once a day. Flags in args come later and win.
	if dir := os.Getenv("KUBEGATE_ACTION_CACHE_DIR"); dir != "" {
		trivyDir := filepath.Join(dir, "trivy")
		args = append(args, "--trivy-cache-dir", trivyDir, "--verdict-cache-dir", filepath.Join(dir, "verdicts"))
		if _, err := os.Stat(filepath.Join(trivyDir, "db", "metadata.json")); err == nil && os.Getenv("KUBEGATE_ACTION_CACHE_HIT") == "true" {
			args = append(args, "--skip-db-update")
		}
	}
	if base := actionDiffBase(); base != "" {
		args = append(args, "--diff-base", base)
	}
	args = append(args, shellwords.Split(actionInput("args"))...)
	paths := strings.Fields(actionInput("paths")) // one per line or space-separated
	if len(paths) == 0 {
		paths = []string{"."}
	}
	return append(args, paths...), nil
}
