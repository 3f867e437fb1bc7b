// Command gen writes gate/schema/builtin.json.gz from the modules the build uses: the
// structured-merge-diff schema of every built-in type that client-go generates for
// server-side apply (applyconfigurations/internal, the API server's own field schema),
// and the kinds each group/version of k8s.io/api registers. go generate ./gate/schema.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"github.com/kubegate/kubegate/gate/schema/internal/wire"
	"github.com/kubegate/kubegate/internal/apilifecycle"
)

func main() {
	clientGo, apiDir := moduleDir("k8s.io/client-go"), moduleDir("k8s.io/api")
	schemaYAML, err := stringConst(filepath.Join(clientGo, "applyconfigurations", "internal", "internal.go"), "schemaYAML")
	if err != nil {
		fail(err)
	}
	p, err := typed.NewParser(typed.YAMLObject(schemaYAML))
	if err != nil {
		fail(err)
	}
	known := map[string]bool{}
	for _, t := range p.Schema.Types {
		known[t.Name] = true
	}
	kinds, err := registeredKinds(apiDir, known)
	if err != nil {
		fail(err)
	}
	data, err := json.Marshal(map[string]any{"kinds": kinds, "schema": wire.From(&p.Schema)})
	if err != nil {
		fail(err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile("builtin.json.gz", buf.Bytes(), 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("builtin.json.gz: %d types, %d group/versions, %d bytes\n", len(p.Schema.Types), len(kinds), buf.Len())
}

// registeredKinds maps "group/version" ("v1" for core) to kind → schema type name, for the
// kinds each register.go adds to the scheme whose type the schema holds.
func registeredKinds(apiDir string, known map[string]bool) (map[string]map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(apiDir, "*", "*", "register.go"))
	if err != nil {
		return nil, err
	}
	typeRe := regexp.MustCompile(`&(\w+)\{\}`)
	out := map[string]map[string]string{}
	for _, f := range files {
		dir := filepath.Dir(f)
		version, pkg := filepath.Base(dir), filepath.Base(filepath.Dir(dir))
		group, err := apilifecycle.GroupName(f)
		if err != nil {
			continue // not an API group (imagepolicy's internal types, …)
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		body := string(src)
		i := strings.Index(body, "AddKnownTypes(")
		if i < 0 {
			continue
		}
		gv := version
		if group != "" {
			gv = group + "/" + version
		}
		for _, m := range typeRe.FindAllStringSubmatch(body[i:], -1) {
			name := "io.k8s.api." + pkg + "." + version + "." + m[1]
			if !known[name] {
				continue
			}
			if out[gv] == nil {
				out[gv] = map[string]string{}
			}
			out[gv][m[1]] = name
		}
	}
	gvs := make([]string, 0, len(out))
	for gv := range out {
		gvs = append(gvs, gv)
	}
	sort.Strings(gvs)
	if len(gvs) < 40 {
		return nil, fmt.Errorf("only %d group/versions found under %s", len(gvs), apiDir)
	}
	return out, nil
}

// stringConst returns the value of a string variable or constant declared in a Go file.
func stringConst(file, name string) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return "", err
	}
	var val string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != name || len(vs.Values) != 1 {
			return true
		}
		var lit *ast.BasicLit
		switch v := vs.Values[0].(type) {
		case *ast.BasicLit:
			lit = v
		case *ast.CallExpr: // typed.YAMLObject(`…`)
			if len(v.Args) == 1 {
				lit, _ = v.Args[0].(*ast.BasicLit)
			}
		}
		if lit != nil {
			val, _ = strconv.Unquote(lit.Value)
		}
		return false
	})
	if val == "" {
		return "", fmt.Errorf("%s: no string %s", file, name)
	}
	return val, nil
}

func moduleDir(path string) string {
	out, err := exec.Command("go", "list", "-m", "-json", path).Output()
	if err != nil {
		fail(fmt.Errorf("go list -m %s: %v", path, err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		fail(err)
	}
	return mod.Dir
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "schema gen:", err)
	os.Exit(1)
}
