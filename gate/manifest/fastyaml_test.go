package manifest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/internal/fastyaml"
)

// slowDecode is the reference: the yaml.v3 path of Decode.
func slowDecode(data []byte) (any, *yaml.Node, bool) {
	v, root, err := decodeYAMLv3(data, 0)
	return v, root, err == nil && root != nil
}

// agree checks that the fast path, when it accepts a document, decodes it exactly as
// yaml.v3 does: the same value and the same line for every key and item.
func agree(t *testing.T, name string, data []byte) (accepted bool) {
	t.Helper()
	fv, idx, rootLine, ok := fastyaml.Parse(data)
	if !ok {
		return false
	}
	sv, root, sok := slowDecode(data)
	if !sok {
		t.Errorf("%s: fast path accepted a document yaml.v3 rejects:\n%s", name, data)
		return true
	}
	if !equalValues(fv, sv) {
		t.Errorf("%s: values differ\nfast: %#v\nslow: %#v\n%s", name, fv, sv, data)
		return true
	}
	if rootLine != root.Line {
		t.Errorf("%s: root line %d, yaml.v3 %d", name, rootLine, root.Line)
	}
	walkPaths(root, nil, func(path []pathStep) {
		if got, want := idx.Line(rootLine, path), lineOfPath(root, path); got != want {
			t.Errorf("%s: line of %v = %d, yaml.v3 %d", name, path, got, want)
		}
	})
	return true
}

// agreeIndex checks that a document's compact index (fastyaml.NodeIndex, what a document
// outside the fast path keeps) gives every field path the line a walk of the yaml.v3 tree
// gives, aliases followed, and that missing paths fall back alike.
func agreeIndex(t *testing.T, name string, data []byte) {
	t.Helper()
	_, root, ok := slowDecode(data)
	if !ok {
		return
	}
	idx, ok := fastyaml.NodeIndex(root, len(data)+100_000)
	if !ok {
		t.Errorf("%s: no index", name)
		return
	}
	check := func(path []pathStep) {
		if got, want := idx.Line(root.Line, path), lineOfPath(root, path); got != want {
			t.Errorf("%s: line of %v = %d, yaml.v3 tree %d", name, path, got, want)
		}
	}
	walkPaths(root, nil, func(path []pathStep) {
		check(path)
		check(append(path[:len(path):len(path)], pathStep{Key: "no-such-field"}))
		check(append(path[:len(path):len(path)], pathStep{Index: 1 << 20}))
	})
}

// TestNodeIndexCases: positions through anchors and aliases, merge keys, flow collections,
// tags and folded scalars (documents the fast path leaves to yaml.v3).
func TestNodeIndexCases(t *testing.T) {
	for i, doc := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: &m\n  name: a\n  labels: {x: y}\ndata:\n  copy: *m\n",
		"base: &b\n  a: 1\n  b: [1, 2]\nmerged:\n  <<: *b\n  c: 3\nlist:\n- *b\n- {k: v, l: [x, {y: z}]}\n",
		"kind: Pod\nspec:\n  containers: [{name: a, image: b}, {name: c}]\n  note: >\n    folded\n    text\n  n: !!str 3\n",
		"%YAML 1.2\n---\nkind: X\nitems:\n  - a\n  -\n    - nested\n",
	} {
		agreeIndex(t, fmt.Sprint("case ", i), []byte(doc))
	}
}

func equalValues(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && (fa == fb || math.IsNaN(fa) && math.IsNaN(fb))
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			if y, ok := bv[k]; !ok || !equalValues(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equalValues(av[i], bv[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// walkPaths calls f with every field path of the tree, through aliases as positions are
// looked up (the fast path's documents have none).
func walkPaths(n *yaml.Node, path []pathStep, f func([]pathStep)) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if len(path) > 50 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := append(path[:len(path):len(path)], pathStep{Key: n.Content[i].Value})
			f(p)
			walkPaths(n.Content[i+1], p, f)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := append(path[:len(path):len(path)], pathStep{Index: i})
			f(p)
			walkPaths(c, p, f)
		}
	}
}

// TestFastPathAgreesWithYAMLv3 runs both decoders over every document of the benchmark
// corpus (real chart output) and of the repository's own YAML.
func TestFastPathAgreesWithYAMLv3(t *testing.T) {
	// The vendored charts' output (testdata/upstream/golden) is always there; the shared
	// corpus is added when present.
	files, _ := filepath.Glob("../../testdata/upstream/golden/*.yaml")
	if len(files) < 5 {
		t.Fatalf("vendored corpus missing: %v", files)
	}
	files = append(files, "../../../shared/corpus/charts-1388.yaml")
	filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) && !strings.Contains(p, "/templates/") {
			files = append(files, p)
		}
		return nil
	})
	total, accepted := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Logf("skipping %s: %v", f, err)
			continue
		}
		for _, c := range splitDocuments(data) {
			total++
			agreeIndex(t, fmt.Sprintf("%s:%d", f, c.line), c.data)
			if agree(t, fmt.Sprintf("%s:%d", f, c.line), c.data) {
				accepted++
			}
		}
	}
	t.Logf("fast path accepted %d of %d documents", accepted, total)
	if accepted*10 < total*9 {
		t.Errorf("fast path accepted only %d of %d documents", accepted, total)
	}
}

func TestFastPathCases(t *testing.T) {
	cases := map[string]bool{ // document → fast path expected to accept it
		"a: 1\nb: [1, \"2\"]\nc: {d: e}\n":     true,
		"a: [[1], {b: [c, {d: 1}]}]\n":         true,
		"a: [b: c]\n":                          false,
		"a: &x 1\nb: *x\n":                     false,
		"a: !!str 1\n":                         false,
		"a: >\n  folded\n":                     false,
		"a: plain\n  continued\n":              false,
		"a: 1\na: 2\n":                         false,
		"? a\n: 1\n":                           false,
		"a: \"\\x41\"\n":                       false,
		"a: |2\n   x\n":                        false,
		"a:\n- 1\n- 2\nb: {}\nc: []\n":         true,
		"a: |\n  line1\n\n  line2\n\n\nb: 1\n": true,
		"a: |-\n  x\n":                         true,
		"a: |+\n  x\n\n":                       true,
		"a: |\n\n":                             true,
		"a: 'it''s'\nb: \"q\\\"\\n\"  # c\n":   true,
		"- x\n-\n  y: 1\n- - z\n":              false,
		"k: v # comment\n# full\nl: ~\nm: 0x1F\nn: 012\no: 1e3\np: .inf\nq: 2026-01-02\nr: yes\ns: True\n": true,
		"list:\n  -   name: a\n      v: 1\n  - name: b\n":                                                  true,
		"a:\n  - |\n    x\n  - y\n":        true,
		"---\na: 1\n":                      true,
		"--- !tag\na: 1\n":                 false,
		"a: 1\n...\n":                      false,
		"a: b: c\n":                        false,
		"a:b\n":                            false, // not a mapping: left to yaml.v3
		"a: -\n":                           false,
		"\ta: 1\n":                         false,
		"a: \xff\n":                        false,
		"\xef\xbb\xbfa: 1\n":               false,
		"a: |\n  no final newline":         false,
		"\"quoted key\": 1\n'single': 2\n": true,
	}
	for doc, want := range cases {
		if got := agree(t, fmt.Sprintf("%q", doc), []byte(doc)); got != want {
			t.Errorf("%q: accepted %v, want %v", doc, got, want)
		}
	}
}

func FuzzFastPath(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    args: [\"x\"]\n",
		"a: |\n  x\n\n  y\nb:\n  - 1\n  -\n    c: 'd'\n",
		"a: \"x\\ty\"\nb: ~\nc: -1.5\n",
		"- a\n- b: 1\n  c: 2\n",
	} {
		f.Add([]byte(seed), uint16(0))
	}
	// Half the inputs are raw bytes, half a block scalar built from them in a context:
	// blank lines of any width before and after it, indentation indicators, chomping.
	f.Fuzz(func(t *testing.T, data []byte, shape uint16) {
		if shape%2 == 1 {
			data = []byte(blockScalarDoc(int(shape/2), string(data)))
		}
		agree(t, "fuzz", data)
		agreeIndex(t, "fuzz", data)
	})
}

var (
	scalarContexts = []struct {
		pre, post string
		indent    int // of the key or item holding the scalar
	}{
		{"r: ", "", 0}, {"a:\n  r: ", "", 2}, {"a:\n- ", "", 0}, {"a:\n  - k: ", "", 4},
		{"r: ", "s: 1\n", 0}, {"a:\n  r: ", "  s: 1\n", 2}, {"a:\n  - ", "  - x\n", 2}, {"a:\n- r: ", "- x\n", 2},
	}
	scalarHeaders = []string{"|", "|-", "|+", "|2", "|-1", "|+4", "|4-", ">", ">-", "| # c"}
	scalarLeading = []string{"", "\n", " \n", "    \n", "      \n", "\n\n   \n"}
	scalarBodies  = []string{"{}", "x\n  y", "x\n\n y", "  x", "#not a comment"}
	scalarTrails  = []string{"", "\n", "  \n", "\n      \n", "#c\n"}
)

// blockScalarDoc builds document number n of the block-scalar shapes, with body (lines
// indented under the header) when body is not empty.
func blockScalarDoc(n int, body string) string {
	pick := func(k int) int { i := n % k; n /= k; return i }
	ctx := scalarContexts[pick(len(scalarContexts))]
	hdr := scalarHeaders[pick(len(scalarHeaders))]
	lead := scalarLeading[pick(len(scalarLeading))]
	if body == "" || strings.ContainsAny(body, "\x00\r") {
		body = scalarBodies[pick(len(scalarBodies))]
	}
	trail := scalarTrails[pick(len(scalarTrails))]
	var b strings.Builder
	b.WriteString(ctx.pre + hdr + "\n" + lead)
	for _, l := range strings.Split(body, "\n") {
		if l != "" {
			b.WriteString(strings.Repeat(" ", ctx.indent+2) + l)
		}
		b.WriteString("\n")
	}
	b.WriteString(trail + ctx.post)
	return b.String()
}

// TestFastPathBlockScalars runs every block-scalar shape through both decoders: leading
// and trailing blank lines of every width, indentation indicators, strip/keep chomping,
// in mappings and sequences, followed by more keys or not.
func TestFastPathBlockScalars(t *testing.T) {
	total := len(scalarContexts) * len(scalarHeaders) * len(scalarLeading) * len(scalarBodies) * len(scalarTrails)
	accepted := 0
	for n := range total {
		doc := blockScalarDoc(n, "")
		if agree(t, fmt.Sprintf("%q", doc), []byte(doc)) {
			accepted++
		}
	}
	if accepted < total/4 {
		t.Errorf("fast path accepted %d of %d block-scalar documents: the comparison tests little", accepted, total)
	}
	for doc, want := range map[string]string{
		"r: |\n    \n    {}\n": "\n{}\n", // a leading blank line is content
		"r: |+\n  x\n\n":       "x\n\n",
		"r: |-\n  x\n\n":       "x",
		"r: |\n  x\n  \n\n":    "x\n",
	} {
		docs := Decode([]byte(doc), Source{File: "s.yaml"})
		if len(docs) != 1 || docs[0].Err != nil {
			t.Fatalf("%q: %+v", doc, docs)
		}
		// Decode wants objects; read the value through the fast path and yaml.v3 both.
		v, _, _, _ := fastyaml.Parse([]byte(doc))
		sv, _, _ := slowDecode([]byte(doc))
		for _, got := range []any{v, sv} {
			if m, ok := got.(map[string]any); ok && m["r"] != want {
				t.Errorf("%q: r = %q, want %q", doc, m["r"], want)
			}
		}
	}
}

// TestFastPathDepth: nesting through "- key:" items counts every level, so the fast path
// never accepts a document deeper than yaml.v3's path allows.
func TestFastPathDepth(t *testing.T) {
	var b strings.Builder
	for i := range 1200 {
		b.WriteString(strings.Repeat("  ", i) + "- k:\n")
	}
	if _, _, _, ok := fastyaml.Parse([]byte("root:\n" + b.String())); ok {
		t.Error("fast path accepted 1,200 levels of nesting")
	}
	docs := Decode([]byte("root:\n"+b.String()), Source{File: "deep.yaml"})
	if len(docs) != 1 || docs[0].Err == nil || !strings.Contains(docs[0].Err.Msg, "nests deeper than 1000 levels") {
		t.Errorf("deep document: %+v", docs)
	}
}
