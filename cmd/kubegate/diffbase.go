package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/internal/prepush"
)

// runBase runs the gate with opts on the tree of commit ref, exported from git (no
// checkout, no network) into a temporary directory and run from the place of the working
// directory within it, so that relative paths (arguments, -f values files) name the
// base's files. Absolute paths inside the work tree are mapped into it. It returns the run
// and the base's name for reports: "REF (sha)".
func runBase(cmd *cobra.Command, ref string, opts gate.Options) (*gate.Result, string, error) {
	ctx := cmd.Context()
	sha, err := prepush.Commit(ctx, ref)
	if err != nil {
		return nil, "", fmt.Errorf("--diff-base: %w", err)
	}
	top, prefix, err := prepush.WorkTree(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("--diff-base: %w", err)
	}
	name := fmt.Sprintf("%s (%.12s)", ref, sha)
	if strings.HasPrefix(sha, ref) {
		name = fmt.Sprintf("%.12s", sha)
	}
	dir, err := os.MkdirTemp("", "kubegate-base-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	if err := prepush.Export(ctx, sha, dir); err != nil {
		return nil, "", fmt.Errorf("--diff-base: %w", err)
	}
	inside := func(p string) string { // an absolute path in the work tree, in the base
		if rel, err := filepath.Rel(top, p); err == nil && filepath.IsAbs(p) && !strings.HasPrefix(rel, "..") {
			return filepath.Join(dir, rel)
		}
		return p
	}
	opts.Paths = mapPaths(opts.Paths, inside)
	opts.Render.ValuesFiles = mapPaths(opts.Render.ValuesFiles, inside)
	opts.KeepObjects = true
	wd, err := os.Getwd()
	if err != nil {
		return nil, "", err
	}
	base := filepath.Join(dir, filepath.FromSlash(prefix))
	if err := os.MkdirAll(base, 0o755); err != nil { // the working directory is new in the change
		return nil, "", err
	}
	if err := os.Chdir(base); err != nil {
		return nil, "", err
	}
	defer os.Chdir(wd)
	res := gate.Run(ctx, opts)
	res.MovePaths(dir, top) // absolute paths: the working tree's, as in the run on it
	return res, name, nil
}

func mapPaths(paths []string, f func(string) string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = f(p)
	}
	return out
}
