package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/internal/fastyaml"
	"github.com/kubegate/kubegate/internal/parallel"
)

// Error is a problem with an input, at a file and line.
type Error struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Msg  string `json:"message"`
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var errNotKubernetes = errors.New("not a Kubernetes object: no apiVersion and kind")

// maxDepth bounds nesting; real manifests stay far below it.
const maxDepth = fastyaml.MaxDepth

// Document is the result of decoding one YAML document of a stream.
type Document struct {
	Objects []*Object // several when the document is a List
	Err     *Error    // the document could not be decoded
	// NotKubernetes is set for a well-formed document that has no apiVersion/kind.
	NotKubernetes bool
	// EmptyList is a List with no items: Kubernetes input with no object in it.
	EmptyList bool
	Line      int // first line of the document in the file
}

// Decode splits a YAML (or JSON) stream into documents and decodes them in parallel, each
// once: block-style documents by the fast path (fastyaml.go), which also indexes field
// lines, the rest by yaml.v3. Empty documents are dropped. Results keep stream order.
func Decode(data []byte, src Source) []Document {
	chunks := splitDocuments(data)
	docs := make([]Document, len(chunks))
	parallel.For(len(chunks), func(i int) { docs[i] = decodeChunk(chunks[i], src) })
	return kept(docs)
}

// DecodeReader is Decode on a stream, calling settle (when not nil) on every object as
// soon as its document is decoded, on the decoding goroutine: settle can take what it
// needs of the object and release its tree. Documents are cut as they are read and
// decoded by one goroutine per core as they come, a few at a time, so that a large
// input's text and trees are never held all at once. It cuts where splitDocuments does —
// at a "---" line that does not start the stream — so the documents are Decode's.
func DecodeReader(r io.Reader, src Source, settle func(*Object)) ([]Document, error) {
	type job struct {
		c   chunk
		out *Document
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan job, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				*j.out = decodeSettled(j.c, src, settle)
			}
		})
	}
	var out []*Document
	var doc []byte // the document being read
	docLine, line, lineStart := 1, 1, true
	emit := func() {
		if len(doc) > 0 {
			out = append(out, new(Document))
			jobs <- job{chunk{doc, docLine}, out[len(out)-1]}
		}
		doc = nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var err error
	for err == nil {
		var l []byte
		l, err = br.ReadSlice('\n')
		// A line longer than the buffer comes in pieces: only the first starts a line (a
		// marker is judged on its first four bytes).
		if lineStart && len(doc) > 0 && isDocMarker(l) {
			emit()
			docLine = line
		}
		doc = append(doc, l...)
		if lineStart = !errors.Is(err, bufio.ErrBufferFull); lineStart {
			line++
		} else {
			err = nil
		}
	}
	emit()
	close(jobs)
	wg.Wait()
	if !errors.Is(err, io.EOF) {
		return nil, err
	}
	docs := make([]Document, len(out))
	for i, d := range out {
		docs[i] = *d
	}
	return kept(docs), nil
}

// decodeSettled decodes one document and settles its objects.
func decodeSettled(c chunk, src Source, settle func(*Object)) Document {
	d := decodeChunk(c, src)
	if settle != nil {
		for _, o := range d.Objects {
			settle(o)
		}
	}
	return d
}

// kept drops the documents with nothing in them (only comments, "---", null).
func kept(docs []Document) []Document {
	out := docs[:0]
	for _, d := range docs {
		if d.Err != nil || d.NotKubernetes || d.EmptyList || len(d.Objects) > 0 {
			out = append(out, d)
		}
	}
	return out
}

type chunk struct {
	data []byte
	line int // 1-based line of the chunk's first byte
}

// splitDocuments cuts a stream at "---" lines, as kubectl's YAML reader does: "---"
// followed by nothing, white space or a comment ("---# note", which YAML itself would read
// as a scalar: Helm charts render it, and kubectl and Helm both start a new document
// there). A document marker at column 0 cannot occur inside a block or quoted scalar of a
// well-formed document, so cutting there is safe, and it lets one malformed document fail
// alone instead of taking the stream with it.
func splitDocuments(data []byte) []chunk {
	var chunks []chunk
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if pos > start && isDocMarker(data[pos:next]) {
			chunks = append(chunks, chunk{data[start:pos], startLine})
			start, startLine = pos, line
		}
		pos = next
		line++
	}
	if start < len(data) {
		chunks = append(chunks, chunk{data[start:], startLine})
	}
	return chunks
}

func isDocMarker(l []byte) bool {
	return fastyaml.IsMarker(l, "---") || len(l) > 3 && string(l[:4]) == "---#"
}

// yamlLineRe is compiled on first use: start-up time is budgeted (DESIGN.md).
var yamlLineRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+): ?`) })

// YAMLErrorLine splits a yaml.v3 error into its 1-based line (0 if none) and message.
func YAMLErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	m := yamlLineRe().FindStringSubmatchIndex(msg)
	if m == nil {
		return 0, msg
	}
	n, _ := strconv.Atoi(msg[m[2]:m[3]])
	if strings.Contains(msg, "did not find expected") {
		// yaml.v3 reports parser errors (unlike scanner errors) with a 0-based line:
		// see parser.fail in gopkg.in/yaml.v3.
		n++
	}
	return n, msg[:m[0]] + msg[m[1]:]
}

func decodeChunk(c chunk, src Source) (doc Document) {
	doc.Line = c.line
	fail := func(line int, format string, args ...any) Document {
		doc.Err = &Error{File: src.File, Line: line, Msg: fmt.Sprintf(format, args...)}
		return doc
	}
	if bytes.IndexByte(c.data, 0) >= 0 {
		return fail(c.line, "binary data (NUL byte), not YAML")
	}
	if len(c.data) > 3 && string(c.data[:4]) == "---#" {
		// "---#…": the rest of the marker line is a comment (see splitDocuments).
		nl := bytes.IndexByte(c.data, '\n')
		if nl < 0 {
			nl = len(c.data)
		}
		c.data = append([]byte("---"), c.data[nl:]...)
	}
	off := c.line - 1
	v, idx, rootLine, fast := fastyaml.Parse(c.data)
	if fast && v == nil {
		return doc // a document that is just null
	}
	if !fast {
		var body *yaml.Node
		var err error
		if v, body, err = decodeYAMLv3(c.data, off); err != nil {
			var pe *posError
			if errors.As(err, &pe) {
				return fail(off+pe.line, "%s", pe.msg)
			}
			return fail(c.line, "%v", err)
		}
		if body == nil {
			return doc // empty document: only comments, "---" or null
		}
		// The positions of the documents outside the fast path, as the fast path keeps
		// them: a compact index, not the tree (several times the size).
		var ok bool
		if idx, ok = fastyaml.NodeIndex(body, len(c.data)+100_000); !ok {
			return fail(c.line, "document expands to too many values (excessive YAML aliasing)")
		}
		rootLine = body.Line
	}
	// locate returns the field-position function for the object at prefix in the document.
	locate := func(prefix []pathStep) func([]pathStep) int {
		return func(p []pathStep) int {
			return idx.Line(rootLine, append(prefix[:len(prefix):len(prefix)], p...)) + off
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		doc.NotKubernetes = true
		return doc
	}
	objSrc := src
	objSrc.Line = off + rootLine
	obj, err := NewObject(m, objSrc)
	if err != nil {
		if key, msg := misspelledIdentity(m); key != "" {
			line := locate(nil)([]pathStep{{Key: key}})
			return fail(line, "%s", msg)
		}
		doc.NotKubernetes = true
		return doc
	}
	obj.locate = locate(nil)
	items, isList := m["items"].([]any)
	if strings.HasSuffix(obj.Kind, "List") && (isList || m["items"] == nil) {
		doc.EmptyList = len(items) == 0
		for i, it := range items {
			itemPath := []pathStep{{Key: "items"}, {Index: i}}
			itemLocate := locate(itemPath)
			line := itemLocate(nil)
			im, ok := it.(map[string]any)
			if !ok {
				return fail(line, "%s item %d is not an object", obj.Kind, i)
			}
			itemSrc := src
			itemSrc.Line = line
			o, err := NewObject(im, itemSrc)
			if err != nil {
				return fail(line, "%s item %d: %v", obj.Kind, i, err)
			}
			o.locate = itemLocate
			doc.Objects = append(doc.Objects, o)
		}
		return doc
	}
	obj.text = c.data
	doc.Objects = []*Object{obj}
	return doc
}

// misspelledIdentity tells a Kubernetes object written with a wrong apiVersion or kind
// key ("Kind: Deployment", "apiversion: v1") — which the API server rejects and which would
// otherwise be skipped as not Kubernetes YAML — from YAML that is not Kubernetes at all.
// It returns the key at fault and the message, or "" when the document is simply not an
// object.
func misspelledIdentity(m map[string]any) (key, msg string) {
	var found [2]string // the keys written for apiVersion and kind, in any case
	for k := range m {
		for i, want := range []string{"apiVersion", "kind"} {
			if strings.EqualFold(k, want) && found[i] != want {
				found[i] = k
			}
		}
	}
	if found[0] == "" || found[1] == "" {
		if _, meta := m["metadata"]; meta && (found[0] != "" || found[1] != "") {
			missing := "kind"
			if found[0] == "" {
				missing = "apiVersion"
			}
			present := found[0] + found[1]
			return present, fmt.Sprintf("not a valid Kubernetes object: it has %s and metadata but no %s", present, missing)
		}
		return "", ""
	}
	for i, want := range []string{"apiVersion", "kind"} {
		if found[i] != want {
			return found[i], fmt.Sprintf("key %q must be written %q: Kubernetes keys are case-sensitive, and the API server rejects this object", found[i], want)
		}
	}
	return "", ""
}

// decodeYAMLv3 decodes a document with yaml.v3: the reference decoder, and the one for
// everything outside the fast path's subset. It returns the value and the root node (nil
// for an empty or null document); errors are *posError with a line of the document.
// lineOffset only shifts the lines quoted inside messages.
func decodeYAMLv3(data []byte, lineOffset int) (any, *yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := YAMLErrorLine(err)
		return nil, nil, &posError{max(line, 1), "invalid YAML: " + msg}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, nil, nil
	}
	body := root.Content[0]
	if body.Kind == yaml.ScalarNode && body.ShortTag() == "!!null" {
		return nil, nil, nil
	}
	conv := converter{budget: len(data) + 100_000, lineOffset: lineOffset}
	v, err := conv.value(body, 0)
	if err != nil {
		return nil, nil, err
	}
	return v, body, nil
}

type posError struct {
	line int
	msg  string
}

func (e *posError) Error() string { return e.msg }

// converter builds plain Go values (map[string]any, []any, string, int64, float64, bool,
// nil — what JSON decoding would give) from yaml.v3 nodes, rejecting duplicate keys and
// bounding alias expansion so that an alias bomb costs a bounded amount of work.
type converter struct {
	budget     int
	lineOffset int // added to node lines in messages
}

func (c *converter) value(n *yaml.Node, depth int) (any, error) {
	c.budget--
	if c.budget < 0 {
		return nil, &posError{n.Line, "document expands to too many values (excessive YAML aliasing)"}
	}
	if depth > maxDepth {
		return nil, &posError{n.Line, fmt.Sprintf("document nests deeper than %d levels", maxDepth)}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &posError{n.Line, "unknown alias"}
		}
		return c.value(n.Alias, depth+1)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := c.value(item, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var merged map[string]bool // keys set by "<<", which explicit keys may override
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				if merged == nil {
					merged = map[string]bool{}
				}
				if err := c.merge(out, merged, vn, depth); err != nil {
					return nil, err
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return nil, &posError{k.Line, "mapping key is not a scalar"}
			}
			key := k.Value
			if _, dup := out[key]; dup && !merged[key] {
				return nil, &posError{k.Line, fmt.Sprintf("duplicate key %q (first set at line %d)", key, firstKeyLine(n, key)+c.lineOffset)}
			}
			v, err := c.value(vn, depth+1)
			if err != nil {
				return nil, err
			}
			out[key] = v
			delete(merged, key)
		}
		return out, nil
	case yaml.ScalarNode:
		v, err := fastyaml.Scalar(n)
		if err != nil {
			return nil, &posError{n.Line, err.Error()}
		}
		return v, nil
	}
	return nil, &posError{n.Line, "unsupported YAML node"}
}

// merge applies a "<<" merge key: values already set explicitly win.
func (c *converter) merge(out map[string]any, merged map[string]bool, n *yaml.Node, depth int) error {
	srcs := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		srcs = n.Content
	}
	for _, s := range srcs {
		v, err := c.value(s, depth+1)
		if err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return &posError{s.Line, "merge key value is not a mapping"}
		}
		for k, val := range m {
			if _, set := out[k]; !set {
				out[k] = val
				merged[k] = true
			}
		}
	}
	return nil
}

// firstKeyLine is the line where key is first written in mapping n.
func firstKeyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}
