package manifest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// TestDecodeReaderMatchesDecode: cutting a stream into documents as it is read cuts where
// splitDocuments cuts, so the documents, their lines and their errors are those of
// decoding it whole: on the corpus, and on a stream with lines longer than the read
// buffer (one whose second read starts with "--- "), a "---#" marker, a
// malformed document, CRLF line ends, and no final newline, read one byte at a time.
func TestDecodeReaderMatchesDecode(t *testing.T) {
	corpus, err := os.ReadFile("../../../shared/corpus/charts-1383-clean.yaml")
	if err != nil {
		t.Skip("the shared corpus is not next to the repository")
	}
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\ndata: {k: v}\n", i)
		if i == 500 {
			fmt.Fprintf(&b, "---# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: long}\ndata: {k: %s}\n", strings.Repeat("x", 200_000))
			b.WriteString("---\napiVersion: v1\nkind: [broken\n")
			b.WriteString("---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: crlf}\r\n---\t# tab\r\n")
			// A line whose second 64 KiB read starts with "--- ": not a line of its own.
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: long2}\ndata:\n  k: %s--- y\n", strings.Repeat("x", 64<<10-len("  k: ")))
		}
	}
	b.WriteString("---\napiVersion: v1\nkind: Secret\nmetadata: {name: last}") // no newline
	for name, data := range map[string][]byte{"corpus": corpus, "crafted": []byte(b.String())} {
		want := Decode(data, Source{File: "in.yaml"})
		// One byte at a time: every read ends mid-line.
		got, err := DecodeReader(iotest.OneByteReader(bytes.NewReader(data)), Source{File: "in.yaml"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d documents read as a stream, %d whole", name, len(got), len(want))
		}
		for i := range want {
			w, g := describe(want[i]), describe(got[i])
			if w != g {
				t.Fatalf("%s: document %d read as a stream is\n%s\nwhole it is\n%s", name, i, g, w)
			}
		}
	}
}

func describe(d Document) string {
	s := fmt.Sprintf("line %d err %v notk8s %v", d.Line, d.Err, d.NotKubernetes)
	for _, o := range d.Objects {
		s += fmt.Sprintf("\n%s at %v, .data at line %d: %v", o.Ref(), o.Source, o.SourceOf("data").Line, o.raw)
	}
	return s
}

// TestDecodeReaderReadError: a read error is returned, not a silent end of input.
func TestDecodeReaderReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := DecodeReader(r, Source{File: "in.yaml"}, nil); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want the read error", err)
	}
}

// TestReleaseAndRedecode: a released object keeps its identity, positions and
// annotations; with its text kept (copied, or compressed once much text is kept) it
// decodes again to the same tree; without, Redecode says so; and reading its tree panics
// rather than reading nothing.
func TestReleaseAndRedecode(t *testing.T) {
	defer textKept.Store(textKept.Load())
	data := []byte("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  annotations: {a: b}\nspec:\n  size: " + strings.Repeat("big ", 5000) + "\n")
	for _, keep := range []bool{true, false} {
		for _, kept := range []int64{0, compressAbove} { // text kept before by other objects
			textKept.Store(kept)
			o := Decode(data, Source{File: "w.yaml"})[0].Objects[0]
			tree := o.Raw()
			o.Release(keep)
			if o.Ref().String() != "Widget w" || o.SourceOf("spec.size").Line != 7 || o.Annotations()["a"] != "b" {
				t.Errorf("released: %v, spec.size at %v, annotations %v", o.Ref(), o.SourceOf("spec.size"), o.Annotations())
			}
			again, ok := o.Redecode()
			if ok != keep || keep && !reflect.DeepEqual(again, tree) {
				t.Errorf("keep %v: Redecode = %v, %v", keep, ok, again)
			}
			if compressed := len(o.text) < len(data)/10; keep && compressed != (kept > 0) {
				t.Errorf("with %d bytes kept before, the kept text is %d bytes of %d", kept, len(o.text), len(data))
			}
			func() {
				defer func() {
					if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Widget w read after it was released") {
						t.Errorf("reading a released tree: recovered %v, want a panic naming the object", r)
					}
				}()
				o.Raw()
			}()
		}
	}
}
