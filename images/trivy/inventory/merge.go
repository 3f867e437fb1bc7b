package inventory

import (
	"cmp"
	"slices"
	"strings"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/scan/utils"
)

// Detail is what is installed in the image, once its layers are merged.
type Detail struct {
	OS           ftypes.OS
	Packages     ftypes.Packages // OS packages
	Applications []ftypes.Application
}

// Merge stacks the layers, lowest first, as Trivy's applier does (fanal/applier): a
// package database or language file is the last layer's that has it, unless a later
// layer deletes it (a whiteout, or an opaque directory above it); the OS is the first
// layer's that names one, except that Debian and Red Hat give way to a more precise
// later guess (Ubuntu, Oracle); OS packages that more than one database lists once;
// package-record applications aggregated by type.
func Merge(layers []Layer) Detail {
	type entry struct {
		pkgs *ftypes.PackageInfo
		app  *ftypes.Application
	}
	files := map[string]entry{} // by file path and kind, as the applier's tree is
	remove := func(p string) {
		p = strings.TrimSuffix(p, "/")
		for k := range files {
			if fp, _, _ := strings.Cut(k, "\x00"); fp == p || strings.HasPrefix(fp, p+"/") {
				delete(files, k)
			}
		}
	}
	var d Detail
	for i := range layers {
		l := &layers[i]
		for _, dir := range l.OpaqueDirs {
			remove(dir)
		}
		for _, p := range l.Whiteouts {
			remove(p)
		}
		d.OS.Merge(l.OS)
		for j := range l.PackageInfos {
			files[l.PackageInfos[j].FilePath+"\x00ospkg"] = entry{pkgs: &l.PackageInfos[j]}
		}
		for j := range l.Applications {
			a := &l.Applications[j]
			files[a.FilePath+"\x00"+string(a.Type)] = entry{app: a}
		}
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		switch e := files[k]; {
		case e.pkgs != nil:
			for _, p := range e.pkgs.Packages {
				// the same package from dpkg's status and status.d counts once
				key := cmp.Or(p.ID, p.Name+"@"+utils.FormatVersion(p)) + "/" + p.FilePath
				if !seen[key] {
					seen[key] = true
					d.Packages = append(d.Packages, p)
				}
			}
		case e.app != nil:
			d.Applications = append(d.Applications, *e.app)
		}
	}
	d.Applications = aggregate(d.Applications)
	return d
}

// aggregate makes the package-record applications (pip, gem, npm, …: one file per
// package) one application per type, without a file path, as Trivy's applier does.
func aggregate(apps []ftypes.Application) []ftypes.Application {
	var out []ftypes.Application
	byType := map[ftypes.LangType]*ftypes.Application{}
	for _, a := range apps {
		if !slices.Contains(ftypes.AggregatingTypes, a.Type) {
			out = append(out, a)
			continue
		}
		if byType[a.Type] == nil {
			byType[a.Type] = &ftypes.Application{Type: a.Type}
		}
		byType[a.Type].Packages = append(byType[a.Type].Packages, a.Packages...)
	}
	for _, t := range ftypes.AggregatingTypes {
		if a := byType[t]; a != nil {
			out = append(out, *a)
		}
	}
	return out
}
