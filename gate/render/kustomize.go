package render

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubegate/kubegate/gate/manifest"
)

// renderKustomize builds a Kustomize root in-process with krusty: plugins off, files only
// from inside the root, remote bases refused. Each object points into the file it came
// from (the base), with Via naming the root.
func (r *Result) renderKustomize(root string) {
	abs, err := filepath.Abs(root)
	if err != nil {
		r.errorf(root, 0, "%v", err)
		return
	}
	var patches []*patch
	if err := r.inspect(abs, root, map[string]bool{}, &patches); err != nil {
		r.Errors = append(r.Errors, err)
		return
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	fs := &originFS{FileSystem: filesys.MakeFsOnDisk(), root: abs}
	resMap, err := runKrusty(opts, fs, abs)
	if err != nil {
		r.errorf(root, 0, "kustomize build failed: %s", strings.ReplaceAll(err.Error(), abs, root))
		return
	}
	via := "kustomize:" + root
	bases := map[string][]*manifest.Object{} // origin file → its objects, for positions
	resources := resMap.Resources()
	origins := make([]*resource.Origin, len(resources))
	for i, res := range resources {
		origins[i], _ = res.GetOrigin()
	}
	if !fs.userOrigin {
		if err := resMap.RemoveOriginAnnotations(); err != nil {
			r.errorf(root, 0, "kustomize: %v", err)
			return
		}
	}
	for i, res := range resources {
		if fs.managedBy {
			// krusty would name the version of the binary embedding it (kubegate's), not
			// kustomize's: the label says which kustomize release renders like this.
			labels := res.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[konfig.ManagedbyLabelKey] = "kustomize-" + KustomizeVersion
			if err := res.SetLabels(labels); err != nil {
				r.errorf(root, 0, "kustomize: %v", err)
				return
			}
		}
		origin := origins[i]
		data, err := res.AsYAML()
		if err != nil {
			r.errorf(root, 0, "%s: %v", res.CurId(), err)
			continue
		}
		file, generated := root, false
		if origin != nil {
			file = filepath.Join(root, origin.Path)
			if origin.ConfiguredIn != "" {
				file, generated = filepath.Join(root, origin.ConfiguredIn), true
			}
		}
		for _, d := range manifest.Decode(data, manifest.Source{File: file, Line: 1, Via: via}) {
			if d.Err != nil {
				r.Errors = append(r.Errors, d.Err)
				continue
			}
			for _, o := range d.Objects {
				o.Source = manifest.Source{File: file, Line: 1, Via: via}
				if !generated {
					if _, seen := bases[file]; !seen {
						bases[file] = readObjects(file)
					}
					base := match(bases[file], o.Kind, o.Name)
					o.PositionsFrom(base)
					baseName := o.Name
					if base != nil {
						baseName = base.Name
					}
					relocatePatched(o, baseName, patches)
				}
				r.Objects = append(r.Objects, o)
			}
		}
	}
}

func readObjects(file string) []*manifest.Object {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var objs []*manifest.Object
	for _, d := range manifest.Decode(data, manifest.Source{File: file}) {
		objs = append(objs, d.Objects...)
	}
	return objs
}

// match finds the object of a base file that a rendered object came from. krusty drops
// the names objects had before namePrefix/nameSuffix, so the base object is the one of
// the same kind whose name the rendered name contains (the longest such).
func match(objs []*manifest.Object, kind, name string) *manifest.Object {
	var best *manifest.Object
	for _, o := range objs {
		if o.Kind == kind && strings.Contains(name, o.Name) && (best == nil || len(o.Name) > len(best.Name)) {
			best = o
		}
	}
	return best
}

// KustomizeVersion is the kustomize release that embeds the kustomize API module kubegate
// is built with (go.mod): renders match its `kustomize build`. TestKustomizeVersion keeps
// the two in step.
const KustomizeVersion = "v5.8.2"

// krustyStderr serialises the swap of os.Stderr around krusty, which prints deprecation
// warnings there itself: kubegate reports them once per file as notes instead (a base
// used by three overlays would warn three times).
var krustyStderr sync.Mutex

func runKrusty(opts *krusty.Options, fs filesys.FileSystem, dir string) (resmap.ResMap, error) {
	krustyStderr.Lock()
	defer krustyStderr.Unlock()
	if devNull, err := os.Open(os.DevNull); err == nil {
		saved := os.Stderr
		os.Stderr = devNull
		defer func() { os.Stderr = saved; devNull.Close() }()
	}
	return krusty.MakeKustomizer(opts).Run(fs, dir)
}

// originFS hands krusty the root's kustomization with origin annotations switched on, so
// that every object says which file it came from, and the managed-by label switched off
// (it is added with kustomize's version instead); the user's file is never changed. It
// records what the user asked for.
type originFS struct {
	filesys.FileSystem
	root       string
	userOrigin bool // the kustomization asks for originAnnotations itself: keep them
	managedBy  bool // the kustomization asks for managedByLabel
}

func (f *originFS) ReadFile(path string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(path)
	if err != nil || filepath.Dir(filepath.Clean(path)) != f.root || !isKustomizationName(filepath.Base(path)) {
		return data, err
	}
	var k map[string]any
	if yaml.Unmarshal(data, &k) != nil || k == nil {
		return data, nil // let krusty report the error in its own words
	}
	meta, _ := k["buildMetadata"].([]any)
	kept := []any{types.OriginAnnotations}
	for _, m := range meta {
		switch m {
		case types.OriginAnnotations:
			f.userOrigin = true
		case types.ManagedByLabelOption:
			f.managedBy = true
		default:
			kept = append(kept, m)
		}
	}
	k["buildMetadata"] = kept
	return yaml.Marshal(k)
}

func isKustomizationName(n string) bool {
	for _, k := range kustomizationFiles {
		if n == k {
			return true
		}
	}
	return false
}

// readKustomization reads a root's kustomization file with kustomize's own types.
func readKustomization(dir string) (*types.Kustomization, string, error) {
	k, p, _, err := readKustomizationWarnings(dir)
	return k, p, err
}

// readKustomizationWarnings is readKustomization with kustomize's deprecation warnings.
func readKustomizationWarnings(dir string) (*types.Kustomization, string, []string, error) {
	for _, n := range kustomizationFiles {
		p := filepath.Join(dir, n)
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var k types.Kustomization
		if err := k.Unmarshal(data); err != nil {
			return nil, p, nil, err
		}
		var warnings []string
		if w := k.CheckDeprecatedFields(); w != nil {
			warnings = *w
		}
		k.FixKustomization() // moves deprecated fields (bases, patchesJson6902, …) into place
		return &k, p, warnings, nil
	}
	return nil, "", nil, os.ErrNotExist
}

// dirRefs lists the entries of a kustomization that may name other kustomization roots.
func dirRefs(k *types.Kustomization) []string {
	return append(append(append([]string{}, k.Resources...), k.Bases...), k.Components...)
}

// fileRefs lists every entry of a kustomization that krusty loads as a file or directory
// — each of which krusty would fetch over HTTP or git when it is a URL.
func fileRefs(k *types.Kustomization) []string {
	refs := dirRefs(k)
	refs = append(refs, k.Crds...)
	refs = append(refs, k.Configurations...)
	refs = append(refs, k.Generators...)
	refs = append(refs, k.Transformers...)
	refs = append(refs, k.Validators...)
	for _, p := range k.PatchesStrategicMerge {
		refs = append(refs, string(p))
	}
	for _, p := range append(append([]types.Patch{}, k.Patches...), k.PatchesJson6902...) {
		refs = append(refs, p.Path)
	}
	for _, r := range k.Replacements {
		refs = append(refs, r.Path)
	}
	refs = append(refs, k.OpenAPI["path"])
	for _, g := range k.ConfigMapGenerator {
		refs = append(refs, kvFiles(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		refs = append(refs, kvFiles(g.KvPairSources)...)
	}
	return refs
}

// kvFiles returns the files of generator sources ("key=path" or "path").
func kvFiles(src types.KvPairSources) []string {
	out := append(append([]string{}, src.EnvSources...), src.EnvSource)
	for _, f := range src.FileSources {
		_, path, found := strings.Cut(f, "=")
		if !found {
			path = f
		}
		out = append(out, path)
	}
	return out
}

// isRemote says whether a kustomization entry that is not a local path is one krusty
// would fetch over the network — a git repository or an http URL: "https://…", "git@…",
// "github.com/org/repo//path?ref=v1". A missing local file ("service.yaml") is not.
func isRemote(ref string) bool {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") || strings.Contains(ref, "?ref=") || strings.Contains(ref, "//") {
		return true
	}
	host, rest, ok := strings.Cut(ref, "/")
	// host/org/repo: a host name has a dot and is not a file name.
	return ok && strings.Contains(host, ".") && !strings.HasPrefix(host, ".") && strings.Contains(rest, "/") &&
		!slices.Contains([]string{".yaml", ".yml", ".json"}, strings.ToLower(filepath.Ext(host)))
}

// inspect walks the kustomizations a root builds on before krusty runs: it refuses remote
// bases (the gate renders offline and only what is in the repository), names a missing
// local file at its entry's line (krusty would say "evalsymlink failure" about an absolute
// path), notes deprecated fields once per file, and reads the patches, in the order
// krusty applies them (bases first), for pointing findings at them.
func (r *Result) inspect(abs, shown string, seen map[string]bool, patches *[]*patch) *manifest.Error {
	if seen[abs] {
		return nil
	}
	seen[abs] = true
	k, file, warnings, err := readKustomizationWarnings(abs)
	if err != nil {
		return nil // krusty reports unreadable kustomizations itself
	}
	kfile := filepath.Join(shown, filepath.Base(file))
	for _, w := range warnings {
		r.note(kfile + ": " + strings.TrimPrefix(w, "# "))
	}
	for _, ref := range fileRefs(k) {
		if ref == "" {
			continue
		}
		sub := filepath.Join(abs, ref)
		st, statErr := os.Stat(sub)
		switch {
		case statErr == nil && st.IsDir():
			if e := r.inspect(sub, filepath.Join(shown, ref), seen, patches); e != nil {
				return e
			}
		case statErr == nil:
		case isRemote(ref):
			return &manifest.Error{File: kfile, Line: entryLine(file, ref),
				Msg: fmt.Sprintf("remote reference %q refused: kubegate renders only what is in the repository (no network); vendor it into the repo", ref)}
		default:
			return &manifest.Error{File: kfile, Line: entryLine(file, ref),
				Msg: fmt.Sprintf("%q: no such file or directory (relative to %s)", ref, shown)}
		}
	}
	*patches = append(*patches, readPatches(k, abs, shown, file, kfile)...)
	return nil
}

// entryLine is the line of the kustomization entry naming ref: the first line where ref
// stands as a whole value ("- ref", "path: ref", "key=ref"), else the first containing it.
func entryLine(file, ref string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		v := strings.TrimSpace(l)
		v = strings.TrimSpace(strings.TrimPrefix(v, "-"))
		if _, after, ok := strings.Cut(v, ": "); ok && !strings.HasPrefix(v, ref) {
			v = strings.TrimSpace(after)
		}
		if _, after, ok := strings.Cut(v, "="); ok {
			v = after
		}
		if strings.Trim(v, `"'`) == ref {
			return i + 1
		}
	}
	return lineOf(file, ref)
}

// lineOf returns the first line of file that contains s (1 when none does).
func lineOf(file, s string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 1
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	return 1
}

// referencedRoots returns the Kustomize roots among roots that another of them builds on.
func referencedRoots(roots []string) map[string]bool {
	set := map[string]bool{}
	for _, r := range roots {
		set[filepath.Clean(r)] = true
	}
	used := map[string]bool{}
	for _, r := range roots {
		k, _, err := readKustomization(r)
		if err != nil {
			continue
		}
		for _, ref := range dirRefs(k) {
			if p := filepath.Join(r, ref); set[p] && p != filepath.Clean(r) {
				used[p] = true
			}
		}
	}
	return used
}
