package admissionpolicy

import (
	"slices"
	"strings"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/parser"
)

// fieldOf is the one field path of the object an expression reads ("spec.replicas" for
// `object.spec.replicas <= 5`, also when has() guards it), or "" when it reads none or
// several: a finding then points at the object rather than at a field it may not be about.
func fieldOf(expr string) string {
	p, err := parser.NewParser(parser.Macros(parser.AllMacros...))
	if err != nil {
		return ""
	}
	tree, errs := p.Parse(common.NewTextSource(expr))
	if len(errs.GetErrors()) > 0 {
		return ""
	}
	var paths []string
	ast.PostOrderVisit(tree.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if path, ok := objectPath(e); ok {
			paths = append(paths, path)
		}
	}))
	// Keep the longest paths: object.spec is visited inside object.spec.replicas.
	var longest []string
	for _, p := range paths {
		if !slices.ContainsFunc(paths, func(q string) bool { return strings.HasPrefix(q, p+".") }) && !slices.Contains(longest, p) {
			longest = append(longest, p)
		}
	}
	if len(longest) != 1 {
		return ""
	}
	return longest[0]
}

// objectPath is the field path of a select chain on the object variable.
func objectPath(e ast.Expr) (string, bool) {
	var names []string
	for e.Kind() == ast.SelectKind {
		names = append(names, e.AsSelect().FieldName())
		e = e.AsSelect().Operand()
	}
	if e.Kind() != ast.IdentKind || e.AsIdent() != "object" || len(names) == 0 {
		return "", false
	}
	slices.Reverse(names)
	return strings.Join(names, "."), true
}
