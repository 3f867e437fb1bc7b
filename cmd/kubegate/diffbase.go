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
// checkout, nothing fetched) into a temporary directory and run from the place of the
// working directory within it, so that relative paths (arguments, -f values files) name
// the base's files. Absolute paths inside the work tree are mapped into it. An input path
// outside the work tree is an error (it has no base); a values file there is read by both
// runs. It returns the run and the base's name for reports: "REF (sha)".
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
	realTop, err := filepath.EvalSymlinks(top)
	if err != nil {
		return nil, "", err
	}
	// inside is a path as the base run names it: relative ones as they are (the run is
	// from the same place in the base), absolute ones in the export. userTop is the top as
	// the absolute paths spell it (through a symbolic link, maybe): the base's paths are
	// spelled so again, to match the working tree's.
	userTop := top
	inside := func(p string) (string, error) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil { // symbolic links (/tmp → /private/tmp) resolved as git does
			abs = real
		}
		rel, err := filepath.Rel(realTop, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("--diff-base: %s is outside the git work tree %s, so it has no base", p, top)
		}
		if filepath.IsAbs(p) {
			if clean := filepath.Clean(p); strings.HasSuffix(clean, string(filepath.Separator)+rel) {
				userTop = strings.TrimSuffix(clean, string(filepath.Separator)+rel)
			} else if rel == "." {
				userTop = clean
			}
			return filepath.Join(dir, rel), nil
		}
		return p, nil
	}
	if opts.Paths, err = mapPaths(opts.Paths, inside); err != nil {
		return nil, "", err
	}
	// A values file or admission policy outside the work tree (a CI secret, the
	// cluster's policies) is no part of the change: both runs read it, by its absolute
	// path (the base run is made from another directory).
	insideOrAbs := func(p string) (string, error) {
		if in, err := inside(p); err == nil {
			return in, nil
		}
		return filepath.Abs(p)
	}
	if opts.Render.ValuesFiles, err = mapPaths(opts.Render.ValuesFiles, insideOrAbs); err != nil {
		return nil, "", err
	}
	if opts.AdmissionPolicies, err = mapPaths(opts.AdmissionPolicies, insideOrAbs); err != nil {
		return nil, "", err
	}
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
	res.MovePaths(dir, userTop) // absolute paths: the working tree's, as in the run on it
	return res, name, nil
}

func mapPaths(paths []string, f func(string) (string, error)) ([]string, error) {
	out := make([]string, len(paths))
	for i, p := range paths {
		var err error
		if out[i], err = f(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}
