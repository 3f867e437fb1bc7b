// Package apilifecycle writes the table of deprecated and removed Kubernetes API versions
// that the api-removed and api-deprecated rules read, from the lifecycle functions that
// k8s.io/api generates for every prerelease type (zz_generated.prerelease-lifecycle.go:
// APILifecycleDeprecated, APILifecycleRemoved, APILifecycleReplacement). The API server
// decides what it serves from the same functions, so the table agrees with it. The files
// are parsed, not imported: importing every API group would cost the gate's start-up time.
package apilifecycle

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Entry is the lifecycle of one kind in one group/version.
type Entry struct {
	APIVersion, Kind      string
	Deprecated, Removed   int // minor versions of Kubernetes 1.x; 0 when unknown
	ReplacementAPIVersion string
	ReplacementKind       string
}

// Read collects the entries of every lifecycle file under apiDir (the k8s.io/api module).
func Read(apiDir string) ([]Entry, error) {
	files, err := filepath.Glob(filepath.Join(apiDir, "*", "*", "zz_generated.prerelease-lifecycle.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no lifecycle files under %s", apiDir)
	}
	var out []Entry
	for _, f := range files {
		es, err := readFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		out = append(out, es...)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return strings.Compare(a.APIVersion+"/"+a.Kind, b.APIVersion+"/"+b.Kind)
	})
	return out, nil
}

func readFile(path string) ([]Entry, error) {
	dir := filepath.Dir(path)
	group, err := GroupName(filepath.Join(dir, "register.go"))
	if err != nil {
		return nil, err
	}
	apiVersion := filepath.Base(dir)
	if group != "" {
		apiVersion = group + "/" + apiVersion
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	byKind := map[string]*Entry{}
	var kinds []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || len(fn.Body.List) != 1 {
			continue
		}
		star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		kind := star.X.(*ast.Ident).Name
		if strings.HasSuffix(kind, "List") {
			continue // lists are not written in manifests
		}
		e := byKind[kind]
		if e == nil {
			e = &Entry{APIVersion: apiVersion, Kind: kind}
			byKind[kind] = e
			kinds = append(kinds, kind)
		}
		ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
		if !ok {
			continue
		}
		switch fn.Name.Name {
		case "APILifecycleDeprecated":
			e.Deprecated, err = minor(ret)
		case "APILifecycleRemoved":
			e.Removed, err = minor(ret)
		case "APILifecycleReplacement":
			e.ReplacementAPIVersion, e.ReplacementKind = replacement(ret)
		}
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %v", kind, fn.Name.Name, err)
		}
	}
	out := make([]Entry, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, *byKind[k])
	}
	return out, nil
}

// minor reads `return 1, 22` and returns 22.
func minor(ret *ast.ReturnStmt) (int, error) {
	if len(ret.Results) != 2 {
		return 0, fmt.Errorf("want return major, minor")
	}
	var v [2]int
	for i, r := range ret.Results {
		lit, ok := r.(*ast.BasicLit)
		if !ok {
			return 0, fmt.Errorf("want integer literals")
		}
		v[i], _ = strconv.Atoi(lit.Value)
	}
	if v[0] != 1 {
		return 0, fmt.Errorf("major version %d: the table knows only 1.x", v[0])
	}
	return v[1], nil
}

// replacement reads `return schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}`.
func replacement(ret *ast.ReturnStmt) (apiVersion, kind string) {
	lit, ok := ret.Results[0].(*ast.CompositeLit)
	if !ok {
		return "", ""
	}
	fields := map[string]string{}
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if v, ok := kv.Value.(*ast.BasicLit); ok {
			fields[kv.Key.(*ast.Ident).Name], _ = strconv.Unquote(v.Value)
		}
	}
	apiVersion = fields["Version"]
	if fields["Group"] != "" {
		apiVersion = fields["Group"] + "/" + apiVersion
	}
	return apiVersion, fields["Kind"]
}

// GroupName reads the GroupName constant of an API group's register.go.
func GroupName(path string) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if len(vs.Names) == 1 && vs.Names[0].Name == "GroupName" && len(vs.Values) == 1 {
				if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
					return strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return "", fmt.Errorf("no GroupName constant")
}

// Generate writes the Go source of the table for package pkg: the entries of apiDir and
// the newest Kubernetes minor that module version describes.
func Generate(pkg, apiDir, moduleVersion string) ([]byte, error) {
	entries, err := Read(apiDir)
	if err != nil {
		return nil, err
	}
	// k8s.io/api v0.37.2 describes Kubernetes 1.37.
	m, err := strconv.Atoi(strings.Split(strings.TrimPrefix(moduleVersion, "v0."), ".")[0])
	if err != nil {
		return nil, fmt.Errorf("module version %q: want v0.<minor>.<patch>", moduleVersion)
	}
	entries = resolve(entries)
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/apilifecycle from k8s.io/api %s. DO NOT EDIT.\n\n", moduleVersion)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	fmt.Fprintf(&b, "// NewestKnownMinor is the Kubernetes minor k8s.io/api %s describes.\nconst NewestKnownMinor = %d\n\n", moduleVersion, m)
	b.WriteString("// generatedLifecycle lists every prerelease kind k8s.io/api knows, with the minor\n// versions that deprecate and stop serving it and its replacement.\n")
	b.WriteString("var generatedLifecycle = []Lifecycle{\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "\t{%q, %q, %d, %d, %q},\n", e.APIVersion, e.Kind, e.Deprecated, e.Removed, replacementText(e))
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// resolve drops the kinds with no deprecation scheduled and gives every other one the
// replacement a user should move to: the end of its replacement chain (flowcontrol v1beta1
// names v1beta3, itself removed), or the stable version of the same kind in the same group
// when k8s.io/api names none.
func resolve(entries []Entry) []Entry {
	byKey := map[string]Entry{}
	stable := map[string]string{} // group/kind → stable apiVersion
	for _, e := range entries {
		byKey[e.APIVersion+" "+e.Kind] = e
		group, version, _ := strings.Cut(e.APIVersion, "/")
		if e.Deprecated == 0 && e.Removed == 0 && !strings.Contains(version, "alpha") && !strings.Contains(version, "beta") {
			stable[group+"/"+e.Kind] = e.APIVersion
		}
	}
	var out []Entry
	for _, e := range entries {
		if e.Deprecated == 0 && e.Removed == 0 {
			continue
		}
		// Upstream data names IngressClassList as the replacement of IngressClass.
		if strings.TrimSuffix(e.ReplacementKind, "List") == e.Kind {
			e.ReplacementKind = e.Kind
		}
		for range 10 { // follow the chain, bounded
			next, ok := byKey[e.ReplacementAPIVersion+" "+e.ReplacementKind]
			if !ok || (next.Deprecated == 0 && next.Removed == 0) || next.ReplacementAPIVersion == "" {
				break
			}
			e.ReplacementAPIVersion, e.ReplacementKind = next.ReplacementAPIVersion, next.ReplacementKind
		}
		if e.ReplacementAPIVersion == "" {
			group, _, _ := strings.Cut(e.APIVersion, "/")
			if v, ok := stable[group+"/"+e.Kind]; ok {
				e.ReplacementAPIVersion, e.ReplacementKind = v, e.Kind
			}
		}
		out = append(out, e)
	}
	return out
}

func replacementText(e Entry) string {
	switch {
	case e.ReplacementAPIVersion == "":
		return ""
	case e.ReplacementKind == e.Kind:
		return e.ReplacementAPIVersion
	}
	return e.ReplacementAPIVersion + " " + e.ReplacementKind
}

// WriteFile generates the table into path.
func WriteFile(path, pkg, apiDir, moduleVersion string) error {
	src, err := Generate(pkg, apiDir, moduleVersion)
	if err != nil {
		return err
	}
	return os.WriteFile(path, src, 0o644)
}
