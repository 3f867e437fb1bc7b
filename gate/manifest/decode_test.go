package manifest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func decodeOne(t *testing.T, data string) Document {
	t.Helper()
	docs := Decode([]byte(data), Source{File: "f.yaml"})
	if len(docs) != 1 {
		t.Fatalf("got %d documents, want 1: %+v", len(docs), docs)
	}
	return docs[0]
}

func TestDecodeStreamKeepsLinesAndOrder(t *testing.T) {
	stream := `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: first
---
---   # empty document
apiVersion: apps/v1
kind: Deployment
metadata:
  name: second
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: app
          securityContext:
            privileged: true
...
`
	docs := Decode([]byte(stream), Source{File: "s.yaml"})
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want 2", len(docs))
	}
	first, second := docs[0].Objects[0], docs[1].Objects[0]
	if first.Name != "first" || first.Source.Line != 3 {
		t.Errorf("first: %s at %v", first.Name, first.Source)
	}
	if second.Ref().String() != "Deployment apps/second" || second.Source.Line != 9 {
		t.Errorf("second: %s at %v", second.Ref(), second.Source)
	}
	cases := map[string]int{
		"spec.template.spec.containers[0].securityContext.privileged": 20,
		"spec.template.spec.containers[0].securityContext.runAsUser":  19, // missing: nearest parent
		"spec.template.spec.containers[3].image":                      17, // no such container
		"metadata.namespace":                                          13,
	}
	for path, want := range cases {
		if got := second.SourceOf(path).Line; got != want {
			t.Errorf("SourceOf(%s) = line %d, want %d", path, got, want)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	d := decodeOne(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  n: 0x1F\n  f: 1.5\n  b: true\n  s: \"007\"\n  z: ~\n  t: 2026-01-02\n  anchors: &a {x: 1}\n  copy: *a\n")
	spec := d.Objects[0].Raw()["spec"].(map[string]any)
	want := map[string]any{"n": int64(31), "f": 1.5, "b": true, "s": "007", "z": nil, "t": "2026-01-02"}
	for k, v := range want {
		if spec[k] != v {
			t.Errorf("%s = %#v (%T), want %#v", k, spec[k], spec[k], v)
		}
	}
	if spec["copy"].(map[string]any)["x"] != int64(1) {
		t.Errorf("alias not resolved: %#v", spec["copy"])
	}
}

func TestDecodeListIsFlattened(t *testing.T) {
	d := decodeOne(t, `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: a}
  - apiVersion: v1
    kind: Secret
    metadata: {name: b}
`)
	if len(d.Objects) != 2 || d.Objects[1].Kind != "Secret" || d.Objects[1].Source.Line != 7 {
		t.Fatalf("objects %+v", d.Objects)
	}
	if got := d.Objects[1].SourceOf("metadata.name").Line; got != 9 {
		t.Errorf("item field line %d, want 9", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, data string
		line       int
		msg        string
	}{
		{"malformed", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a: b\n", 4, "invalid YAML: mapping values are not allowed in this context"},
		{"duplicate key", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n", 5, `duplicate key "name" (first set at line 4)`},
		{"binary", "apiVersion: v1\x00\x01\x02", 1, "binary data (NUL byte), not YAML"},
		{"non-scalar key", "? [a, b]\n: c\n", 1, "mapping key is not a scalar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decodeOne(t, c.data)
			if d.Err == nil {
				t.Fatalf("no error; objects %v", d.Objects)
			}
			if d.Err.Line != c.line || d.Err.Msg != c.msg || d.Err.File != "f.yaml" {
				t.Errorf("got %v, want f.yaml:%d: %s", d.Err, c.line, c.msg)
			}
		})
	}
}

func TestNotKubernetes(t *testing.T) {
	if docs := Decode([]byte("---\n~\n---\nnull\n"), Source{File: "n.yaml"}); len(docs) != 0 {
		t.Errorf("null documents: %+v", docs)
	}
	for _, data := range []string{"replicas: 3\n", "- a\n- b\n", "just a string\n", "kind: Pod\n"} {
		if d := decodeOne(t, data); !d.NotKubernetes || d.Err != nil {
			t.Errorf("%q: %+v", data, d)
		}
	}
}

// TestHostileInput: every hostile document gets a clear error within bounded time, and
// never a panic.
func TestHostileInput(t *testing.T) {
	aliasBomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		aliasBomb += fmt.Sprintf("%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	deepFlow := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	var deepBlock strings.Builder
	for i := range 2000 {
		deepBlock.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	cases := map[string]struct{ data, msg string }{
		"alias bomb":       {"apiVersion: v1\nkind: ConfigMap\n" + aliasBomb, "excessive YAML aliasing"},
		"deep flow":        {"apiVersion: v1\nkind: ConfigMap\ndata: " + deepFlow + "\n", "nest"},
		"deep block":       {"apiVersion: v1\nkind: ConfigMap\ndata:\n" + indent(deepBlock.String(), "  "), "nests deeper than 1000 levels"},
		"unknown alias":    {"apiVersion: v1\nkind: ConfigMap\ndata: *nope\n", "unknown anchor"},
		"unclosed quote":   {"apiVersion: v1\nkind: ConfigMap\ndata: \"abc\n", "invalid YAML"},
		"tab indentation":  {"apiVersion: v1\nkind: ConfigMap\ndata:\n\ta: b\n", "invalid YAML"},
		"invalid utf8":     {"apiVersion: v1\nkind: ConfigMap\ndata: \xff\xfe\n", "invalid YAML"},
		"merge of scalars": {"apiVersion: v1\nkind: ConfigMap\ndata:\n  <<: 3\n", "merge"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			docs := Decode([]byte(c.data), Source{File: "h.yaml"})
			if len(docs) != 1 || docs[0].Err == nil {
				t.Fatalf("want one error, got %+v", docs)
			}
			if !strings.Contains(docs[0].Err.Msg, c.msg) {
				t.Errorf("error %q lacks %q", docs[0].Err.Msg, c.msg)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix) + "\n"
}

// TestLargeDocument: a 50 MB document is decoded, not skipped.
func TestLargeDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB document")
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n")
	line := strings.Repeat("x", 1000)
	for i := 0; b.Len() < 50<<20; i++ {
		fmt.Fprintf(&b, "  key%d: %s\n", i, line)
	}
	docs := Decode([]byte(b.String()), Source{File: "big.yaml"})
	if len(docs) != 1 || docs[0].Err != nil || len(docs[0].Objects) != 1 {
		t.Fatalf("50 MB document: %+v", docs)
	}
	if n := len(docs[0].Objects[0].Raw()["data"].(map[string]any)); n < 50_000 {
		t.Errorf("data has %d keys", n)
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n",
		"---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret}]\n---\n",
		"a: &a [1]\nb: [*a, *a]\n<<: {c: 1}\n",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
		"{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}",
		"kind: [\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range Decode(data, Source{File: "fuzz.yaml"}) {
			if d.Err != nil && d.Err.Line < 1 {
				t.Errorf("error without a line: %v", d.Err)
			}
			for _, o := range d.Objects {
				if o.Kind == "" || o.APIVersion == "" || o.Source.Line < 1 {
					t.Errorf("object without identity or line: %+v", o)
				}
				_ = o.SourceOf("spec.template.spec.containers[0].image")
				_, _ = o.PodTemplate()
			}
		}
	})
}

func TestFieldPathsWithDottedKeys(t *testing.T) {
	if got := Field("data", "tls.crt"); got != `data["tls.crt"]` {
		t.Errorf("Field = %s", got)
	}
	if got := Field("metadata", "name"); got != "metadata.name" {
		t.Errorf("Field = %s", got)
	}
	got := parsePath(`spec.containers[2].env[0]` + `.x["a.b[c]"].y`)
	want := []pathStep{{Key: "spec"}, {Key: "containers"}, {Index: 2}, {Key: "env"}, {Index: 0}, {Key: "x"}, {Key: "a.b[c]"}, {Key: "y"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parsePath = %v, want %v", got, want)
	}
	for _, bad := range []string{`a["b`, "a[1", "[", ""} {
		parsePath(bad) // must not panic
	}
}

// TestMarkerWithComment: "---# note" starts a document, as in kubectl's reader and Helm's
// splitter (cert-manager's chart renders it); "---foo" does not.
func TestMarkerWithComment(t *testing.T) {
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---# Permission to approve\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---   # spaced\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
	docs := Decode([]byte(in), Source{File: "m.yaml"})
	var names []string
	for _, d := range docs {
		if d.Err != nil {
			t.Fatalf("error %v", d.Err)
		}
		for _, o := range d.Objects {
			names = append(names, o.Name+":"+o.Source.String())
		}
	}
	if got := strings.Join(names, " "); got != "a:m.yaml:1 b:m.yaml:6 c:m.yaml:11" {
		t.Errorf("objects %s", got)
	}
	if docs := Decode([]byte("a: 1\n---foo\nb: 2\n"), Source{File: "m.yaml"}); len(docs) != 1 {
		t.Errorf("---foo split the document: %+v", docs)
	}
}
