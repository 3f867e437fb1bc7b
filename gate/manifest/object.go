// Package manifest holds the rendered Kubernetes objects the gate checks, each with the
// place it was written (file, line, and how it was produced), and decodes YAML streams into
// them while keeping positions.
package manifest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"go.yaml.in/yaml/v3"

	"github.com/kubegate/kubegate/internal/fastyaml"
)

// Source says where an object (or a field of it) is written.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Via names what produced the object when it is not the file itself:
	// "kustomize:deploy/prod" or "helm:charts/app".
	Via string `json:"via,omitempty"`
	// Values is where a Helm values file sets the value at fault, when the template
	// writes it from values (toYaml .Values.x, {{ .Values.x }}): where a chart user
	// changes it.
	Values *ValuesRef `json:"values,omitempty"`
}

// ValuesRef is a path in a Helm values file and the line that sets it.
type ValuesRef struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Path string `json:"path"` // "controller.securityContext.privileged"
}

func (v *ValuesRef) String() string {
	if v.Line > 0 {
		return fmt.Sprintf("%s:%d (%s)", v.File, v.Line, v.Path)
	}
	return fmt.Sprintf("%s (%s)", v.File, v.Path)
}

func (s Source) String() string {
	if s.Line > 0 {
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	}
	return s.File
}

// Ref identifies an object in reports.
type Ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

func (r Ref) String() string {
	if r.Name == "" {
		return r.Kind // a config file (KubeletConfiguration, kubeadm) has no name
	}
	if r.Namespace != "" {
		return r.Kind + " " + r.Namespace + "/" + r.Name
	}
	return r.Kind + " " + r.Name
}

// Object is one rendered Kubernetes object.
type Object struct {
	APIVersion, Kind, Namespace, Name string
	Source                            Source

	// raw is the decoded object; nil once released (Release).
	raw map[string]any
	// released: the checks have taken what they read of raw (Derived, annotations) and
	// dropped it, so that a large input does not keep every decoded tree to the end.
	released    bool
	annotations map[string]string // metadata.annotations, kept by Release
	// text is the document the object was decoded from, when it is one object alone:
	// what Redecode reads after Release.
	text           []byte
	textCompressed bool // text is zstd-compressed (KeepText)
	// Derived is what the checks derived from the object before it was released (its API
	// type, its schema verdict); the owner of that work sets and reads it.
	Derived any `json:"-"`

	// locate finds the line of a field path in the text the object was decoded from; nil
	// when only the object's own line is known.
	locate func(path []pathStep) int
	// Generated are the field paths (`data["tls.crt"]`) whose values a renderer makes up
	// at render time (a chart's randAlphaNum password, its genCA certificate): they differ
	// from one render to the next, and nothing of them is written in the repository.
	Generated map[string]bool

	// relocate, when set, maps a field path to where it is written in the file the user
	// edits, which is not the decoded text (a Helm template).
	relocate func(path []pathStep) Source
}

// Ref returns the object's identity.
func (o *Object) Ref() Ref {
	return Ref{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

// Annotations returns metadata.annotations as strings.
func (o *Object) Annotations() map[string]string {
	if o.released {
		return o.annotations
	}
	return stringMap(Lookup(o.raw, "metadata", "annotations"))
}

// Raw is the decoded object. Reading a released object is a defect of the caller (it
// would see no fields, and pass what it should fail): it panics.
func (o *Object) Raw() map[string]any {
	if o.released {
		panic(fmt.Sprintf("manifest: %s read after it was released", o.Ref()))
	}
	return o.raw
}

// Release drops the decoded tree, keeping the identity, the positions and the
// annotations (exemptions read them). With keepText, the document's text is kept for
// Redecode; without, it is dropped too.
func (o *Object) Release(keepText bool) {
	// Cloned: a substring would keep the whole document's text.
	ann := o.Annotations()
	o.annotations = make(map[string]string, len(ann))
	for k, v := range ann {
		o.annotations[strings.Clone(k)] = strings.Clone(v)
	}
	o.raw, o.released = nil, true
	o.KeepText(keepText)
}

// KeepText keeps a private copy of the text o was decoded from (for Redecode), or drops
// it: until then it shares the input's buffer. Past compressAbove bytes kept in all, the
// copies are compressed: a CustomResourceDefinition's text is the largest thing the
// checks keep, and YAML shrinks about tenfold, at a few ms per MB that a small input
// does not need to pay.
func (o *Object) KeepText(keep bool) {
	switch {
	case !keep || o.text == nil:
		o.text = nil
	case textKept.Add(int64(len(o.text))) > compressAbove:
		// EncodeAll's buffer has the text's capacity: copied, to keep only what it holds.
		o.text, o.textCompressed = slices.Clone(textEncoder().EncodeAll(o.text, nil)), true
	default:
		o.text = slices.Clone(o.text)
	}
}

// compressAbove is how much text objects keep uncompressed, in all (textKept).
const compressAbove = 4 << 20

var textKept atomic.Int64

var (
	textEncoder = sync.OnceValue(func() *zstd.Encoder {
		// A small window: the encoders' history buffers are kept for the whole run.
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(256<<10))
		if err != nil {
			panic(err) // only for invalid options
		}
		return e
	})
	textDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil)
		if err != nil {
			panic(err) // only for invalid options
		}
		return d
	})
)

// HasText says whether o has the text Redecode needs, if released with it.
func (o *Object) HasText() bool { return o.text != nil }

// Released says whether Release dropped o's tree.
func (o *Object) Released() bool { return o.released }

// Redecode decodes o again from its text: the tree of a released object whose text was
// kept. ok is false when there is no text to decode.
func (o *Object) Redecode() (raw map[string]any, ok bool) {
	if !o.released {
		return o.raw, true
	}
	if o.text == nil {
		return nil, false
	}
	text := o.text
	if o.textCompressed {
		var err error
		if text, err = textDecoder().DecodeAll(o.text, nil); err != nil {
			return nil, false
		}
	}
	d := decodeChunk(chunk{data: text, line: 1}, o.Source)
	if d.Err != nil || len(d.Objects) != 1 {
		return nil, false
	}
	return d.Objects[0].raw, true
}

// SourceOf returns where the field at path (".spec.hostPID", "spec.containers[0].image") is
// written: its own line when the source file has it, else the line of its nearest written
// parent, else the object's line.
func (o *Object) SourceOf(path string) Source {
	s := o.Source
	if path == "" {
		return s
	}
	if o.relocate != nil {
		r := o.relocate(parsePath(path))
		if r.File != "" {
			s.File = r.File
		}
		if r.Line > 0 {
			s.Line = r.Line
		}
		s.Values = r.Values
		return s
	}
	if o.locate == nil {
		return s
	}
	if line := o.locate(parsePath(path)); line > 0 {
		s.Line = line
	}
	return s
}

// NewObject builds an object from a decoded map; it fails when apiVersion or kind is
// missing. Field lines are unknown until a locator is set (decoding, PositionsFrom,
// LocateBy).
func NewObject(raw map[string]any, src Source) (*Object, error) {
	o := &Object{raw: raw, Source: src}
	o.APIVersion, _ = raw["apiVersion"].(string)
	o.Kind, _ = raw["kind"].(string)
	if o.APIVersion == "" || o.Kind == "" {
		return nil, errNotKubernetes
	}
	o.Name, _ = Lookup(raw, "metadata", "name").(string)
	o.Namespace, _ = Lookup(raw, "metadata", "namespace").(string)
	// The identity outlives the tree (Release): substrings would keep the document's text.
	o.APIVersion, o.Kind = strings.Clone(o.APIVersion), strings.Clone(o.Kind)
	o.Name, o.Namespace = strings.Clone(o.Name), strings.Clone(o.Namespace)
	return o, nil
}

// Differences returns the field paths of the leaves whose values differ between a and b
// (two renders of one object), as Field writes them.
func Differences(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, c := range Changes(a, b) {
		out[c.Path] = true
	}
	return out
}

// Change is a field whose value differs between two versions of an object.
type Change struct {
	Path     string // as Field writes it
	Old, New any    // nil: the field is absent on that side
}

// Changes returns the fields whose values differ between a and b, in path order: leaves
// of mappings and lists both sides have, and whole values one side lacks (a key, or the
// items past the shorter list's end).
func Changes(a, b any) []Change {
	var out []Change
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		switch xv := x.(type) {
		case map[string]any:
			if yv, ok := y.(map[string]any); ok {
				keys := make([]string, 0, len(xv)+len(yv))
				for k := range xv {
					keys = append(keys, k)
				}
				for k := range yv {
					if _, ok := xv[k]; !ok {
						keys = append(keys, k)
					}
				}
				slices.Sort(keys)
				for _, k := range keys {
					walk(Field(path, k), xv[k], yv[k])
				}
				return
			}
		case []any:
			if yv, ok := y.([]any); ok {
				for i := range max(len(xv), len(yv)) {
					var xe, ye any
					if i < len(xv) {
						xe = xv[i]
					}
					if i < len(yv) {
						ye = yv[i]
					}
					walk(fmt.Sprintf("%s[%d]", path, i), xe, ye)
				}
				return
			}
		}
		if (x == nil) != (y == nil) || fmt.Sprint(x) != fmt.Sprint(y) {
			out = append(out, Change{Path: path, Old: x, New: y})
		}
	}
	walk("", a, b)
	return out
}

// PathStep is one step of a field path, for Relocate: a map Key, or (Key "") a list Index.
type PathStep = fastyaml.Step

// Relocate makes field lookups of o go through f: for Helm templates, which are not YAML
// until rendered, and for fields a Kustomize patch sets. f gets the field path and
// decoded, which gives the line of a path (or of its nearest parent) as o located it
// before; it returns where the field is written in the file the user edits (File ""
// keeps the object's file; Line 0 the object's line) and the values file setting it.
func (o *Object) Relocate(f func(path []PathStep, decoded func([]PathStep) int) Source) {
	decoded := func(p []pathStep) int {
		if o.locate == nil {
			return 0
		}
		return o.locate(p)
	}
	if prev := o.relocate; prev != nil {
		decoded = func(p []pathStep) int { return prev(p).Line }
	}
	o.relocate = func(p []pathStep) Source { return f(p, decoded) }
}

// DecodedLine is the line of the field at path (or of its nearest parent) in the text o
// was decoded from; 0 when unknown.
func (o *Object) DecodedLine(path string) int {
	if o.locate == nil {
		return 0
	}
	return o.locate(parsePath(path))
}

// LocateList makes the items of the list field key point at lines[i] (objects made of
// files that are not YAML, such as kubelet flag files).
func (o *Object) LocateList(key string, lines []int) {
	o.locate = func(p []pathStep) int {
		if len(p) >= 2 && p[0].Key == key && p[1].Key == "" && p[1].Index < len(lines) {
			return lines[p[1].Index]
		}
		return 0
	}
}

// The kind of the objects made of kubelet flag files: the flags are in "args".
const (
	KubeletFlagsAPIVersion = "kubegate.dev/v1alpha1"
	KubeletFlagsKind       = "KubeletFlags"
)

// Lookup walks nested maps by key.
func Lookup(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		} else if v != nil {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// pathStep is one step of a field path: a map key or a list index.
type pathStep = fastyaml.Step

// parsePath reads "spec.containers[0].securityContext" (and `data["tls.crt"]` for keys with
// dots) into steps.
func parsePath(path string) []pathStep {
	var steps []pathStep
	for p := path; p != ""; {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			if strings.HasPrefix(p, `["`) {
				end := strings.Index(p[2:], `"]`)
				if end < 0 {
					return steps
				}
				steps = append(steps, pathStep{Key: p[2 : 2+end]})
				p = p[2+end+2:]
				continue
			}
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return steps
			}
			idx, _ := strconv.Atoi(p[1:end])
			steps = append(steps, pathStep{Index: idx})
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			steps = append(steps, pathStep{Key: p[:end]})
			p = p[end:]
		}
	}
	return steps
}

// Field appends a map key to a field path: parent.key, or parent["key"] when the key
// holds a dot or a bracket.
func Field(parent, key string) string {
	if strings.ContainsAny(key, `.[]"`) {
		return parent + `["` + key + `"]`
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// NodeLine returns the line of the field at path ("rules.disable[2]") in a YAML node tree,
// or of its nearest existing parent.
func NodeLine(n *yaml.Node, path string) int { return lineOfPath(n, parsePath(path)) }

// NodeFind is NodeLine, and whether the whole path exists in the tree.
func NodeFind(n *yaml.Node, path string) (line int, found bool) {
	return findPath(n, parsePath(path))
}

// lineOfPath returns the line of the deepest node along path that exists in doc.
func lineOfPath(doc *yaml.Node, path []pathStep) int {
	line, _ := findPath(doc, path)
	return line
}

// findPath returns the line of the deepest node along path that exists in doc, and
// whether that node is the whole path's.
func findPath(doc *yaml.Node, path []pathStep) (int, bool) {
	n := doc
	if n == nil {
		return 0, false
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, st := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch {
		case st.Key != "" && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == st.Key {
					// The key's line: for a nested block it is where the field is written.
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case st.Key == "" && n.Kind == yaml.SequenceNode:
			if st.Index < len(n.Content) {
				next = n.Content[st.Index]
				line = next.Line
			}
		}
		if next == nil {
			return line, false
		}
		n = next
	}
	return line, true
}

// PositionsFrom makes o point where base is written: o was rendered from base (a Kustomize
// base object), so fields o still has from base are found at base's lines. With no base,
// only o.Source is known.
func (o *Object) PositionsFrom(base *Object) {
	if base == nil {
		o.locate, o.relocate = nil, nil
		return
	}
	o.Source.Line = base.Source.Line
	o.locate, o.relocate = base.locate, base.relocate
}
