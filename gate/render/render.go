// Package render turns the user's inputs — YAML/JSON files, directories, stdin, Kustomize
// roots and Helm charts — into manifest objects that know where they were written.
package render

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/glob"
	"github.com/kubegate/kubegate/internal/parallel"
)

// Options steer rendering.
type Options struct {
	// Helm: values files (-f), --set values, release name and namespace.
	ValuesFiles []string
	SetValues   []string
	ReleaseName string
	Namespace   string
	// KubeVersion is the target Kubernetes version ("1.37") for Helm's Capabilities.
	KubeVersion string
	// HelmTimeout bounds one chart's template execution (a template can loop).
	HelmTimeout time.Duration
	Stdin       io.Reader
	// SkipDirs and SkipFiles are globs (--skip-dirs, --skip-files, the policy's skipDirs
	// and skipFiles) of directories and files left out when a directory is walked: a glob
	// without "/" matches the last element, one with "/" the whole path.
	SkipDirs, SkipFiles []string
	// Settle, when set, is called once on every object as soon as rendering is done with
	// it (on a plain file's decoding goroutine; after a chart's or an overlay's own
	// processing), in parallel: the checks take what they read and release the tree.
	Settle func(*manifest.Object)
}

// DefaultKubeVersion is the Kubernetes version charts are rendered for when neither
// --kube-version nor the policy names one: the version of the API types kubegate is built
// with, as the helm CLI does (the library alone would say 1.20, or whatever the build info
// of the binary holds). TestDefaultKubeVersion keeps it equal to the rules' newest.
const DefaultKubeVersion = "1.37"

// Result is everything rendered from the inputs.
type Result struct {
	Objects []*manifest.Object
	Errors  []*manifest.Error // inputs (or documents) that could not be rendered
	Notes   []string          // things skipped on purpose, warnings
	noted   map[string]bool
	settle  func(*manifest.Object) // Options.Settle
	// emptyLists counts List documents without items: inputs that are Kubernetes YAML
	// with nothing in them, not errors.
	emptyLists int
}

// note adds a note once.
func (r *Result) note(n string) {
	if r.noted[n] {
		return
	}
	if r.noted == nil {
		r.noted = map[string]bool{}
	}
	r.noted[n] = true
	r.Notes = append(r.Notes, n)
}

func (r *Result) errorf(file string, line int, format string, args ...any) {
	r.Errors = append(r.Errors, &manifest.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Render renders every path. An input that yields no Kubernetes object is an error; one bad
// document or file is reported and does not stop the others.
func Render(paths []string, opts Options) *Result {
	if opts.ReleaseName == "" {
		opts.ReleaseName = "release-name"
	}
	if opts.KubeVersion == "" {
		opts.KubeVersion = DefaultKubeVersion
	}
	if opts.HelmTimeout == 0 {
		opts.HelmTimeout = time.Minute
	}
	r := &Result{settle: opts.Settle}
	for _, p := range paths {
		if p != "-" {
			// "./deploy/" and "deploy" name the same input: report it one way, with no
			// "//" where a file name is appended.
			p = filepath.Clean(p)
		}
		before, beforeErrs, beforeEmpty := len(r.Objects), len(r.Errors), r.emptyLists
		r.renderPath(p, opts)
		if r.settle != nil { // a chart's or an overlay's objects; a file's are settled already
			objs := r.Objects[before:]
			parallel.For(len(objs), func(i int) { r.settle(objs[i]) })
		}
		if len(r.Objects) == before && len(r.Errors) == beforeErrs && r.emptyLists == beforeEmpty {
			r.errorf(p, 0, "no Kubernetes objects found")
		}
	}
	return r
}

func (r *Result) renderPath(p string, opts Options) {
	if p == "-" {
		if opts.Stdin == nil {
			opts.Stdin = os.Stdin
		}
		r.decode(opts.Stdin, manifest.Source{File: "<stdin>"}, true)
		return
	}
	info, err := os.Stat(p)
	if err != nil {
		r.errorf(p, 0, "%v", unwrapPathError(err))
		return
	}
	if !info.IsDir() {
		r.renderFile(p, true)
		return
	}
	switch kind(p) {
	case kustomizeRoot:
		r.renderKustomize(p)
	case helmChart:
		r.renderHelm(p, opts)
	default:
		r.renderDir(p, opts)
	}
}

type dirKind int

const (
	plainDir dirKind = iota
	kustomizeRoot
	helmChart
)

// kustomizationFiles are the names krusty accepts, in its order of preference.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func kind(dir string) dirKind {
	for _, n := range kustomizationFiles {
		if fileExists(filepath.Join(dir, n)) {
			return kustomizeRoot
		}
	}
	if fileExists(filepath.Join(dir, "Chart.yaml")) {
		return helmChart
	}
	return plainDir
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// renderDir renders a directory tree: Kustomize roots and Helm charts inside it are
// rendered as such (a Kustomize root that another root in the tree builds on is rendered
// only through that root), other YAML/JSON files are read as manifests.
func (r *Result) renderDir(root string, opts Options) {
	var files, kustomizations, charts []string
	skipped := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			r.errorf(p, 0, "%v", unwrapPathError(err))
			return nil
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if p != root && matchesAny(opts.SkipDirs, p) {
				skipped++
				return filepath.SkipDir
			}
			switch kind(p) {
			case kustomizeRoot:
				kustomizations = append(kustomizations, p)
				return filepath.SkipDir
			case helmChart:
				charts = append(charts, p)
				return filepath.SkipDir
			}
			return nil
		}
		if matchesAny(opts.SkipFiles, p) {
			skipped++
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		default:
			if isKubeletFlagsFile(p) {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		r.errorf(root, 0, "%v", err)
	}
	if skipped > 0 {
		r.note(fmt.Sprintf("%s: %d %s left out by --skip-dirs/--skip-files (or the policy's skipDirs/skipFiles)", root, skipped, plural(skipped, "path", "paths")))
	}
	for _, f := range files {
		r.renderFile(f, false)
	}
	used := referencedRoots(kustomizations)
	for _, k := range kustomizations {
		if used[k] {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: Kustomize base rendered through the roots that use it", k))
			continue
		}
		r.renderKustomize(k)
	}
	for _, c := range charts {
		r.renderHelm(c, opts)
	}
}

// renderFile decodes one manifest file. explicit: the user named the file, so a document
// that is not a Kubernetes object is an error rather than a note.
func (r *Result) renderFile(p string, explicit bool) {
	if isKubeletFlagsFile(p) {
		data, err := os.ReadFile(p)
		if err != nil {
			r.errorf(p, 0, "%v", unwrapPathError(err))
			return
		}
		if o := kubeletFlags(data, p); o != nil {
			r.Objects = append(r.Objects, o)
		} else {
			r.Notes = append(r.Notes, p+": no kubelet flags in this file")
		}
		return
	}
	f, err := os.Open(p)
	if err != nil {
		r.errorf(p, 0, "%v", unwrapPathError(err))
		return
	}
	defer f.Close()
	r.decode(f, manifest.Source{File: p}, explicit)
}

// decode reads a stream of documents, decoding them as they are read: a large file is not
// held whole.
func (r *Result) decode(in io.Reader, src manifest.Source, explicit bool) {
	docs, err := manifest.DecodeReader(in, src, r.settle)
	if err != nil {
		r.errorf(src.File, 0, "read: %v", unwrapPathError(err))
		return
	}
	objects := 0
	var foreign []int
	for _, d := range docs {
		switch {
		case d.Err != nil:
			r.Errors = append(r.Errors, d.Err)
		case d.NotKubernetes:
			foreign = append(foreign, d.Line)
		case d.EmptyList:
			r.emptyLists++
		default:
			for _, o := range d.Objects {
				if ownFile(o) {
					r.note(fmt.Sprintf("%s: kubegate's own %s file, not checked as an object", src.File, o.Kind))
					continue
				}
				objects++
				r.Objects = append(r.Objects, o)
			}
		}
	}
	switch {
	case len(foreign) == 0:
	case explicit || objects > 0:
		for _, l := range foreign {
			r.errorf(src.File, l, "document is not a Kubernetes object (no apiVersion and kind)")
		}
	default:
		r.Notes = append(r.Notes, fmt.Sprintf("%s: skipped, not Kubernetes YAML (no apiVersion and kind)", src.File))
	}
}

// ownFile says whether o is one of kubegate's own files (a policy, a baseline), which a
// directory of manifests often holds next to them.
func ownFile(o *manifest.Object) bool {
	return strings.HasPrefix(o.APIVersion, "kubegate.dev/") && (o.Kind == "Policy" || o.Kind == "Baseline")
}

// unwrapPathError drops the path from an os error: the report already names the file.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sortedKeys returns m's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// HasChart says whether path is a Helm chart directory or holds one below it: where -f
// and --set values apply.
func HasChart(path string) bool {
	found := false
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || found:
			return filepath.SkipAll
		case !d.IsDir():
			return nil
		case p != path && strings.HasPrefix(d.Name(), "."):
			return filepath.SkipDir
		case kind(p) == helmChart:
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// matchesAny says whether a walked path matches one of the skip globs.
func matchesAny(globs []string, p string) bool {
	for _, g := range globs {
		if glob.MatchPath(g, p) {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
