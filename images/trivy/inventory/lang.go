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

// languageParser is a Trivy dependency parser (pkg/dependency/parser/...).
type languageParser interface {
	Parse(ctx context.Context, r xio.ReadSeekerAt) ([]ftypes.Package, []ftypes.Dependency, error)
}

// records reads a file with a fresh Trivy parser into one application of type typ (own:
// the packages' file path is the file's). A file the parser does not read is skipped, as
// in Trivy.
func records[P languageParser](typ ftypes.LangType, own bool, newParser func() P) parser {
	return func(ctx context.Context, l *Layer, p string, _ fs.FileInfo, f file) error {
		if pkgs, deps, err := newParser().Parse(ctx, f); err == nil {
			addApp(l, typ, p, pkgs, deps, own)
		}
		return ctx.Err()
	}
}

var (
	// goBinary reads a Go executable's build information: its modules and the Go
	// version (stdlib).
	goBinary = records(ftypes.GoBinary, false, gobinary.NewParser)
	// rustBinary reads the dependency list cargo-auditable embeds in a Rust executable.
	rustBinary = records(ftypes.RustBinary, false, rustbinary.NewParser)
	// gemSpec: an installed gem's specification (ruby/gemspec).
	gemSpec = records(ftypes.GemSpec, true, gemspec.NewParser)
	// pythonMetadata: an installed distribution's METADATA or PKG-INFO. One that does not
	// parse is skipped; Trivy drops every Python package of the layer with it.
	pythonMetadata = records(ftypes.PythonPkg, true, packaging.NewParser)
)

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
		return pythonMetadata(ctx, l, p, info, memFile{r})
	}
	return nil
}
