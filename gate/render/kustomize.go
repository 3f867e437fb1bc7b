package render

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
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
	if err := refuseRemote(abs, root, map[string]bool{}); err != nil {
		r.Errors = append(r.Errors, err)
		return
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	resMap, err := krusty.MakeKustomizer(opts).Run(originFS{filesys.MakeFsOnDisk(), abs}, abs)
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
	if err := resMap.RemoveOriginAnnotations(); err != nil {
		r.errorf(root, 0, "kustomize: %v", err)
		return
	}
	for i, res := range resources {
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
					o.PositionsFrom(match(bases[file], o.Kind, o.Name))
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

// originFS hands krusty the root's kustomization with origin annotations switched on, so
// that every object says which file it came from; the user's file is never changed.
type originFS struct {
	filesys.FileSystem
	root string
}

func (f originFS) ReadFile(path string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(path)
	if err != nil || filepath.Dir(filepath.Clean(path)) != f.root || !isKustomizationName(filepath.Base(path)) {
		return data, err
	}
	var k map[string]any
	if yaml.Unmarshal(data, &k) != nil || k == nil {
		return data, nil // let krusty report the error in its own words
	}
	meta, _ := k["buildMetadata"].([]any)
	for _, m := range meta {
		if m == types.OriginAnnotations {
			return data, nil
		}
	}
	k["buildMetadata"] = append(meta, types.OriginAnnotations)
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
	for _, n := range kustomizationFiles {
		p := filepath.Join(dir, n)
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var k types.Kustomization
		if err := k.Unmarshal(data); err != nil {
			return nil, p, err
		}
		k.FixKustomization() // moves deprecated fields (bases, patchesJson6902, …) into place
		return &k, p, nil
	}
	return nil, "", os.ErrNotExist
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

// isRemote says whether a kustomization entry (relative to dir) is fetched over the
// network — a git repository or an http URL — which krusty would do by running git or an
// HTTP client: "https://…", "git@…", "github.com/org/repo//path?ref=v1".
func isRemote(dir, ref string) bool {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") || strings.Contains(ref, "?ref=") {
		return true
	}
	first, _, _ := strings.Cut(ref, "/")
	if strings.Contains(first, ".") && !strings.HasPrefix(first, ".") {
		_, err := os.Stat(filepath.Join(dir, ref))
		return err != nil // a host name, unless a local directory is really named so
	}
	return false
}

// refuseRemote walks the kustomizations a root builds on and refuses remote bases:
// the gate renders offline and only what is in the repository.
func refuseRemote(abs, shown string, seen map[string]bool) *manifest.Error {
	if seen[abs] {
		return nil
	}
	seen[abs] = true
	k, file, err := readKustomization(abs)
	if err != nil {
		return nil // krusty reports unreadable kustomizations itself
	}
	for _, ref := range fileRefs(k) {
		if ref != "" && isRemote(abs, ref) {
			return &manifest.Error{File: filepath.Join(shown, filepath.Base(file)), Line: lineOf(file, ref),
				Msg: fmt.Sprintf("remote reference %q refused: kubegate renders only what is in the repository (no network); vendor it into the repo", ref)}
		}
		sub := filepath.Join(abs, ref)
		if st, err := os.Stat(sub); err == nil && st.IsDir() {
			if e := refuseRemote(sub, filepath.Join(shown, ref), seen); e != nil {
				return e
			}
		}
	}
	return nil
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
