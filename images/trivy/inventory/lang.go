package inventory

import (
	"archive/zip"
	"cmp"
	"context"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"

	gobinary "github.com/aquasecurity/trivy/pkg/dependency/parser/golang/binary"
	"github.com/aquasecurity/trivy/pkg/dependency/parser/nodejs/packagejson"
	"github.com/aquasecurity/trivy/pkg/dependency/parser/python/packaging"
	"github.com/aquasecurity/trivy/pkg/dependency/parser/ruby/gemspec"
	rustbinary "github.com/aquasecurity/trivy/pkg/dependency/parser/rust/binary"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	xio "github.com/aquasecurity/trivy/pkg/x/io"
)

// addApp records a language file's packages as one application, as Trivy's
// language.Analyze (binaries: the packages keep no file path) and AnalyzePackage
// (package records: each package's file path is the file's) do.
func addApp(l *Layer, typ ftypes.LangType, p string, pkgs []ftypes.Package, deps []ftypes.Dependency, own bool) {
	if len(pkgs) == 0 {
		return
	}
	dependsOn := map[string][]string{}
	for _, d := range deps {
		dependsOn[d.ID] = d.DependsOn
	}
	for i := range pkgs {
		if own {
			pkgs[i].FilePath = cmp.Or(pkgs[i].FilePath, p)
		}
		pkgs[i].DependsOn = dependsOn[pkgs[i].ID]
		pkgs[i].Indirect = pkgs[i].Relationship == ftypes.RelationshipIndirect
	}
	l.Applications = append(l.Applications, ftypes.Application{Type: typ, FilePath: p, Packages: pkgs})
}

// goBinary reads a Go executable's build information: its modules and the Go version
// (stdlib). Executables that are not Go binaries, or whose build information does not
// read, are skipped, as in Trivy.
func goBinary(ctx context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	pkgs, deps, err := gobinary.NewParser().Parse(ctx, f)
	if err == nil {
		addApp(l, ftypes.GoBinary, p, pkgs, deps, false)
	}
	return ctx.Err()
}

// rustBinary reads the dependency list cargo-auditable embeds in a Rust executable.
func rustBinary(ctx context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	pkgs, deps, err := rustbinary.NewParser().Parse(ctx, f)
	if err == nil {
		addApp(l, ftypes.RustBinary, p, pkgs, deps, false)
	}
	return ctx.Err()
}

// languageFile is the rule of Trivy's package-record analyzers: which file is one.
func languageFile(p string) parser {
	base := path.Base(p)
	switch {
	case base == "package.json":
		return nodePackage
	case gemspecFile.MatchString(p):
		return gemSpec
	case base == "METADATA" && strings.Contains(p, ".dist-info") || isEggInfo(p):
		return pythonMetadata
	case path.Ext(p) == ".egg":
		return pythonEgg
	}
	return nil
}

var gemspecFile = regexp.MustCompile(`.*/specifications/.+\.gemspec`)

// nodePackage: a package.json that names a package (nodejs/pkg).
func nodePackage(_ context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	pkg, err := packagejson.NewParser().Parse(f)
	if err == nil && pkg.Package.ID != "" {
		addApp(l, ftypes.NodePkg, p, []ftypes.Package{pkg.Package}, nil, true)
	}
	return nil
}

// gemSpec: an installed gem's specification (ruby/gemspec).
func gemSpec(ctx context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	pkgs, deps, err := gemspec.NewParser().Parse(ctx, f)
	if err == nil {
		addApp(l, ftypes.GemSpec, p, pkgs, deps, true)
	}
	return nil
}

// isEggInfo: the metadata files of eggs (python/packaging). Trivy also counts any file
// under a .dist-info directory, but reads only the METADATA among them.
func isEggInfo(p string) bool {
	for _, suffix := range []string{"EGG-INFO/PKG-INFO", ".egg-info", ".egg-info/PKG-INFO", ".egg-info/METADATA"} {
		if strings.HasSuffix(p, suffix) {
			return true
		}
	}
	return false
}

// pythonMetadata: an installed distribution's METADATA or PKG-INFO. One that does not
// parse is skipped; Trivy drops every Python package of the layer with it.
func pythonMetadata(ctx context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
	pkgs, deps, err := packaging.NewParser().Parse(ctx, f)
	if err == nil {
		addApp(l, ftypes.PythonPkg, p, pkgs, deps, true)
	}
	return nil
}

// pythonEgg: a zipped egg's PKG-INFO (python/packaging's egg analyzer).
func pythonEgg(ctx context.Context, l *Layer, p string, info fs.FileInfo, f file) error {
	zr, err := zip.NewReader(f, info.Size())
	if err != nil {
		return nil
	}
	for _, zf := range zr.File {
		if !isEggInfo(zf.Name) {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil
		}
		r, err := xio.NewReadSeekerAt(io.LimitReader(rc, 16<<20))
		rc.Close()
		if err != nil {
			return nil
		}
		pkgs, deps, err := packaging.NewParser().Parse(ctx, r)
		if err == nil {
			addApp(l, ftypes.PythonPkg, p, pkgs, deps, true)
		}
		return nil
	}
	return nil
}
