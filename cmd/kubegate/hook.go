package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubegate/kubegate/internal/prepush"
)

// hookMarker identifies a pre-push hook kubegate wrote (and may overwrite).
const hookMarker = "# installed by `kubegate hook install`"

func newHookCmd() *cobra.Command {
	hook := &cobra.Command{
		Use:   "hook",
		Short: "Install and run the git pre-push hook that gates what is about to be pushed",
	}
	var force bool
	install := &cobra.Command{
		Use:   "install [--force] [-- CHECK-ARGS...]",
		Short: "Write .git/hooks/pre-push: every push runs check on the commits being pushed",
		Long: "Write the repository's pre-push hook (core.hooksPath respected). On each push it runs\n" +
			"`kubegate check CHECK-ARGS` on each commit being pushed, exported from git (not the working\n" +
			"tree), and blocks the push when the gate fails. Pushes that change no manifest, chart or\n" +
			"policy file are not checked again; image verdicts come from the cache. CHECK-ARGS default\n" +
			"to `.`; bypass once with git push --no-verify.",
		Example: "  kubegate hook install\n  kubegate hook install -- --fail-on high deploy/ charts/app",
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := prepush.HooksDir(cmd.Context())
			if err != nil {
				return fmt.Errorf("not in a git repository? %w", err)
			}
			path := filepath.Join(dir, "pre-push")
			old, err := os.ReadFile(path)
			if err == nil && !strings.Contains(string(old), hookMarker) && !force {
				return fmt.Errorf("%s exists and was not written by kubegate: use --force to replace it, "+
					"or call `kubegate hook pre-push` from it", path)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			args, err = withPath(args)
			if err != nil {
				return err
			}
			// The arguments are check's: try them now, as check will read them, rather than
			// install a hook that blocks every push over a typo.
			var errOut strings.Builder
			if code := run(append([]string{"check", "--validate-only"}, args...), strings.NewReader(""), io.Discard, &errOut); code != 0 {
				return fmt.Errorf("the hook would run `kubegate check %s`, which stops before checking anything:\n%s",
					strings.Join(args, " "), strings.TrimSpace(errOut.String()))
			}
			// The hook runs kubegate from PATH, so that an upgrade (or another machine's
			// install path in a shared repository) needs no new hook.
			if _, err := exec.LookPath("kubegate"); err != nil {
				self, _ := os.Executable()
				fmt.Fprintf(cmd.ErrOrStderr(), "kubegate: warning: kubegate is not on PATH, where the hook looks for it; add %s to PATH (this kubegate is %s)\n", filepath.Dir(self), self)
			}
			script := "#!/bin/sh\n" + hookMarker + "\n# Checks the commits being pushed; bypass once with: git push --no-verify\n" +
				"if ! command -v kubegate >/dev/null 2>&1; then\n" +
				"  echo 'kubegate: not found on PATH, so the push is not checked and is blocked; install it (https://github.com/kubegate/kubegate#install) or bypass once with git push --no-verify' >&2\n" +
				"  exit 1\nfi\n" +
				"exec kubegate hook pre-push"
			for _, a := range args {
				script += " " + shellQuote(a)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(script+"\n"), 0o755); err != nil {
				return err
			}
			if err := os.Chmod(path, 0o755); err != nil { // a replaced hook keeps its mode
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s\n", path)
			return nil
		},
	}
	install.Flags().BoolVar(&force, "force", false, "replace a pre-push hook kubegate did not write")
	run := &cobra.Command{
		Use:   "pre-push [CHECK-ARGS...]",
		Short: "Run by the pre-push hook: check each commit being pushed (refs read from standard input, as git writes them)",
		// The arguments are check's, flags included.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			updates, err := prepush.Parse(cmd.InOrStdin())
			if err != nil {
				return err
			}
			if args, err = withPath(args); err != nil {
				return err
			}
			failed := 0
			for _, u := range updates {
				if touches, err := u.Touches(ctx); err != nil {
					return err
				} else if !touches {
					fmt.Fprintf(cmd.ErrOrStderr(), "kubegate: %s: no manifest, chart or policy changed, not checked again\n", u.LocalRef)
					continue
				}
				base := u.Base(ctx)
				if base != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "kubegate: checking %s (%.12s) against %s (%.12s)\n", u.LocalRef, u.LocalSHA, u.RemoteRef, base)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "kubegate: checking %s (%.12s)\n", u.LocalRef, u.LocalSHA)
				}
				code, err := checkCommit(cmd, u.LocalSHA, base, args)
				if err != nil {
					return err
				}
				failed = max(failed, code)
			}
			if failed != 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "kubegate: push blocked; fix the findings (or bypass once with git push --no-verify)")
				return exitError{failed}
			}
			return nil
		},
	}
	hook.AddCommand(install, run)
	return hook
}

// withPath adds "." to check's arguments when they name no path (flags only), as check
// on a push checks the whole commit by default.
func withPath(args []string) ([]string, error) {
	c := newCheckCmd()
	c.SetArgs(args)
	if err := c.ParseFlags(args); err != nil {
		return nil, fmt.Errorf("kubegate check %s: %w", strings.Join(args, " "), err)
	}
	if len(c.Flags().Args()) == 0 {
		return append(slices.Clip(args), "."), nil
	}
	return args, nil
}

// checkCommit exports the commit and runs check in it, so that relative paths and the
// policy file are those of the commit; with a base (the remote's commit), against it.
func checkCommit(cmd *cobra.Command, sha, base string, args []string) (int, error) {
	ctx := cmd.Context()
	dir, err := os.MkdirTemp("", "kubegate-push-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := prepush.Export(ctx, sha, dir); err != nil {
		return 0, err
	}
	if base != "" {
		// Only what the push changes fails it: check --diff-base, run in the exported
		// tree, reaches the repository through GIT_DIR.
		gitDir, err := prepush.GitDir(ctx)
		if err != nil {
			return 0, err
		}
		old, had := os.LookupEnv("GIT_DIR")
		os.Setenv("GIT_DIR", gitDir)
		defer func() {
			if had {
				os.Setenv("GIT_DIR", old)
			} else {
				os.Unsetenv("GIT_DIR")
			}
		}()
		args = append([]string{"--diff-base", base}, args...)
	}
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	if err := os.Chdir(dir); err != nil {
		return 0, err
	}
	defer os.Chdir(wd)
	return run(append([]string{"check"}, args...), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()), nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
