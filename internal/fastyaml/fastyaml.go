// Package fastyaml is a fast path for decoding the block-style YAML that rendered manifests are written in
// (kubectl, Helm and Kustomize output, hand-written manifests). yaml.v3 builds a full node
// tree — about a hundred bytes per value — before anything can be read from it, and on a
// 2-core CI runner that tree, not the rules, is most of a gate run. This parser builds the
// value and a compact line index in one pass over the lines.
//
// It accepts only a strict subset and gives up (ok=false) on anything else: anchors,
// aliases, tags, flow collections with content, multi-line plain or quoted scalars,
// folded scalars, complex or merge keys, duplicate keys, tabs in indentation, directives,
// unusual escapes or characters. The caller then decodes the document with yaml.v3, which
// stays the reference: a differential test over the vendored charts' output and a fuzz
// target (gate/manifest/fastyaml_test.go, where the yaml.v3 path is) check that whenever
// this parser accepts a document, its value and lines equal yaml.v3's.
//
// Its API is narrow: Parse, Index.Line, Scalar (shared with the yaml.v3 path), IsMarker.
package fastyaml

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Index maps hashed field paths to the line where the field is written. It is kept for
// every object to the end of a run: two exactly sized arrays, 12 bytes an entry, where a
// slice of structs grown while parsing held 16 bytes and spare capacity (a third of a
// large input's memory once the trees are released).
type Index struct {
	hashes []uint64
	lines  []int32
}

type posEntry struct {
	hash uint64
	line int32
}

// compact makes the Index of the entries in order.
func compact(entries []posEntry) Index {
	x := Index{hashes: make([]uint64, len(entries)), lines: make([]int32, len(entries))}
	for i, e := range entries {
		x.hashes[i], x.lines[i] = e.hash, e.line
	}
	return x
}

const (
	hashSeed  = 14695981039346656037
	hashPrime = 1099511628211
)

func hashKey(h uint64, key string) uint64 {
	h = (h ^ 'k') * hashPrime
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * hashPrime
	}
	return (h ^ 0xff) * hashPrime
}

func hashIndex(h uint64, i int) uint64 {
	h = (h ^ 'i') * hashPrime
	return (h ^ uint64(i)) * hashPrime
}

func (x Index) lookup(h uint64) int {
	for i, xh := range x.hashes {
		if xh == h {
			return int(x.lines[i])
		}
	}
	return 0
}

// Line returns the line of the deepest step of path that the index has, starting from
// the document root's line.
func (x Index) Line(rootLine int, path []Step) int {
	h, line := uint64(hashSeed), rootLine
	for _, st := range path {
		if st.Key != "" {
			h = hashKey(h, st.Key)
		} else {
			h = hashIndex(h, st.Index)
		}
		l := x.lookup(h)
		if l == 0 {
			break
		}
		line = l
	}
	return line
}

type fline struct {
	indent int
	text   string // after the indentation, without a trailing \r
	raw    string // the whole line, without a trailing \r
	num    int    // 1-based within the document
}

type fastParser struct {
	lines []fline
	pos   int
	index []posEntry
	ok    bool
	depth int
	// noFinalNewline: the last line has no line break, which changes the value of a
	// block scalar ending there.
	noFinalNewline bool
}

// NodeIndex is the Index of a document yaml.v3 decoded (one outside Parse's subset), so
// that the document's tree need not be kept for positions: the line of every key and item
// reachable from body as a field path — aliases followed, merge keys not — as a walk of
// the tree by that path finds it. The tree has no duplicate keys (decoding refused them).
// At most limit entries (aliases can multiply a tree); ok is false past it.
func NodeIndex(body *yaml.Node, limit int) (Index, bool) {
	var idx []posEntry
	var walk func(n *yaml.Node, h uint64) bool
	walk = func(n *yaml.Node, h uint64) bool {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				kh := hashKey(h, n.Content[i].Value)
				idx = append(idx, posEntry{kh, int32(n.Content[i].Line)})
				if len(idx) > limit || !walk(n.Content[i+1], kh) {
					return false
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				ih := hashIndex(h, i)
				idx = append(idx, posEntry{ih, int32(c.Line)})
				if len(idx) > limit || !walk(c, ih) {
					return false
				}
			}
		}
		return true
	}
	if !walk(body, hashSeed) {
		return Index{}, false
	}
	return compact(idx), true
}

// Parse decodes one document of block-style YAML, the subset rendered manifests are
// written in, into plain Go values as yaml.v3 would, with the line of every key and item.
// rootLine is the line of its first value. ok is false when the document is outside the
// subset (anchors, tags, folded scalars, …): decode it with yaml.v3 then.
func Parse(data []byte) (v any, idx Index, rootLine int, ok bool) {
	if !plainText(data) {
		return nil, Index{}, 0, false
	}
	p := &fastParser{ok: true, noFinalNewline: len(data) > 0 && data[len(data)-1] != '\n'}
	n := bytes.Count(data, []byte{'\n'}) + 1
	p.lines = make([]fline, 0, n)
	p.index = make([]posEntry, 0, n)
	text := string(data)
	for num := 1; len(text) > 0; num++ {
		l, rest, _ := strings.Cut(text, "\n")
		text = rest
		l = strings.TrimSuffix(l, "\r")
		ind := 0
		for ind < len(l) && l[ind] == ' ' {
			ind++
		}
		if ind < len(l) && l[ind] == '\t' {
			return nil, Index{}, 0, false // a tab in leading white space: yaml.v3 decides
		}
		p.lines = append(p.lines, fline{indent: ind, text: l[ind:], raw: l, num: num})
	}
	p.skipBlank()
	for i, l := range p.lines {
		// Document markers: only a leading "---" is ours (splitDocuments cut there).
		if IsMarker(l.raw, "...") || IsMarker(l.raw, "---") && i != p.pos {
			return nil, Index{}, 0, false
		}
	}
	if p.pos < len(p.lines) && IsMarker(p.lines[p.pos].raw, "---") {
		if rest := strings.Trim(p.lines[p.pos].raw[3:], " \t"); rest != "" && rest[0] != '#' {
			return nil, Index{}, 0, false
		}
		p.pos++
		p.skipBlank()
	}
	if p.pos >= len(p.lines) {
		return nil, Index{}, 0, false
	}
	first := p.lines[p.pos]
	if _, _, isKey := splitKey(first.text); !isKey || first.indent != 0 {
		return nil, Index{}, 0, false // objects are mappings; anything else goes to yaml.v3
	}
	v = p.node(first.indent, hashSeed)
	p.skipBlank()
	if !p.ok || p.pos < len(p.lines) {
		return nil, Index{}, 0, false // trailing content (a "..." marker, a dedent) is not ours
	}
	return v, compact(p.index), first.num, true
}

// plainText rejects bytes yaml.v3 would refuse or treat specially: control characters,
// line breaks other than LF and CRLF, invalid UTF-8, a byte order mark.
func plainText(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f {
				return false
			}
			if c == '\r' && (i+1 >= len(data) || data[i+1] != '\n') {
				return false // a lone CR is a line break to YAML
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		// NEL, LS and PS are line breaks to libyaml's scanner.
		if r == utf8.RuneError || r == 0xFEFF || (r >= 0x80 && r < 0xA0) || r == 0x2028 || r == 0x2029 || (r >= 0xD800 && r <= 0xDFFF) || r > 0xFFFD && r < 0x10000 {
			return false
		}
		i += n
	}
	return true
}

func (p *fastParser) fail() any { p.ok = false; return nil }

// Step is one step of a field path: a map key, or (Key "") a list index.
type Step struct {
	Key   string
	Index int
}

// MaxDepth bounds nesting; real manifests stay far below it.
const MaxDepth = 1000

// IsMarker says whether line l is the document marker m ("---" or "...") followed by
// nothing or white space.
func IsMarker[L ~string | ~[]byte](l L, m string) bool {
	if len(l) < 3 || string(l[:3]) != m {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r'
}

// skipBlank moves past empty and comment-only lines.
func (p *fastParser) skipBlank() {
	for p.pos < len(p.lines) {
		t := p.lines[p.pos].text
		if strings.Trim(t, " \t") != "" && t[0] != '#' {
			return
		}
		p.pos++
	}
}

// peek returns the next line with content, without consuming anything.
func (p *fastParser) peek() (fline, bool) {
	save := p.pos
	p.skipBlank()
	defer func() { p.pos = save }()
	if p.pos < len(p.lines) {
		return p.lines[p.pos], true
	}
	return fline{}, false
}

// blockLine returns the next line with content when it belongs to a block at indent
// (is indented at least as much).
func (p *fastParser) blockLine(indent int) (fline, bool) {
	p.skipBlank()
	if p.pos >= len(p.lines) || p.lines[p.pos].indent < indent {
		return fline{}, false
	}
	return p.lines[p.pos], true
}

// isItem says whether a line's text starts a block sequence item.
func isItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// node parses the block node whose first line is at p.pos with the given indentation.
func (p *fastParser) node(indent int, h uint64) any {
	l := p.lines[p.pos]
	if isItem(l.text) {
		return p.sequence(indent, h)
	}
	if _, _, isKey := splitKey(l.text); isKey {
		return p.mapping(indent, h)
	}
	// A scalar or flow collection on a line of its own ("resources:\n  {}", Helm's
	// toYaml | nindent): any further line at this indentation would continue it. Block
	// scalars there are indented relative to the parent, which is not known here.
	if l.text[0] == '|' || l.text[0] == '>' {
		return p.fail()
	}
	p.pos++
	return p.value(l.text, indent-1, h, false)
}

// enter counts one level of nesting; far below MaxDepth the document is left to yaml.v3,
// whose path reports the depth error.
func (p *fastParser) enter() bool {
	p.depth++
	return p.depth <= MaxDepth/2
}

func (p *fastParser) mapping(indent int, h uint64) any {
	defer func() { p.depth-- }()
	if !p.enter() {
		return p.fail()
	}
	out := map[string]any{}
	for p.ok {
		l, ok := p.blockLine(indent)
		if !ok {
			break
		}
		if l.indent > indent || isItem(l.text) {
			return p.fail()
		}
		key, rest, isKey := splitKey(l.text)
		if !isKey {
			return p.fail()
		}
		if _, dup := out[key]; dup {
			return p.fail() // yaml.v3's path reports it, with both lines
		}
		kh := hashKey(h, key)
		p.index = append(p.index, posEntry{kh, int32(l.num)})
		p.pos++
		out[key] = p.value(rest, indent, kh, true)
	}
	return out
}

func (p *fastParser) sequence(indent int, h uint64) any {
	defer func() { p.depth-- }()
	if !p.enter() {
		return p.fail()
	}
	out := []any{}
	for p.ok {
		l, ok := p.blockLine(indent)
		if !ok {
			break
		}
		if l.indent > indent || !isItem(l.text) {
			// A dedented key ends a sequence that is a mapping value at the key's indent.
			if l.indent == indent && !strings.HasPrefix(l.text, "-") {
				break
			}
			return p.fail()
		}
		ih := hashIndex(h, len(out))
		rest := strings.TrimLeft(l.text[1:], " ")
		if strings.HasPrefix(rest, "\t") {
			return p.fail() // yaml.v3 is particular about tabs after "-": let it decide
		}
		if rest == "" || rest[0] == '#' {
			p.pos++
			// yaml.v3 places such an item at the line its content starts on.
			line := l.num
			if next, ok := p.peek(); ok && next.indent > indent {
				line = next.num
			}
			p.index = append(p.index, posEntry{ih, int32(line)})
			out = append(out, p.nested(indent, ih, false))
			continue
		}
		p.index = append(p.index, posEntry{ih, int32(l.num)})
		col := l.indent + (len(l.text) - len(rest))
		if isItem(rest) {
			return p.fail() // "- - a": rare; leave it to yaml.v3
		}
		if _, _, isKey := splitKey(rest); isKey {
			// "- key: value" opens a mapping at the column of "key".
			p.lines[p.pos] = fline{indent: col, text: rest, raw: l.raw, num: l.num}
			out = append(out, p.mapping(col, ih))
			continue
		}
		p.pos++
		out = append(out, p.value(rest, indent, ih, false))
	}
	return out
}

// nested parses the block under a key or a "-" with nothing after it. inMapping: a
// sequence at the key's own indentation belongs to the key.
func (p *fastParser) nested(indent int, h uint64, inMapping bool) any {
	p.skipBlank()
	if p.pos >= len(p.lines) {
		return nil
	}
	l := p.lines[p.pos]
	switch {
	case l.indent > indent:
		return p.node(l.indent, h)
	case inMapping && l.indent == indent && (isItem(l.text)):
		return p.sequence(indent, h)
	}
	return nil
}

// value parses what follows "key:" or "- " on a line (already consumed) and any lines
// that belong to it.
func (p *fastParser) value(rest string, indent int, h uint64, inMapping bool) any {
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" || rest[0] == '#' {
		return p.nested(indent, h, inMapping)
	}
	switch rest[0] {
	case '|':
		return p.literal(rest, indent)
	case '"':
		s, tail, ok := doubleQuoted(rest)
		if !ok || !onlyComment(tail) {
			return p.fail()
		}
		return s
	case '\'':
		s, tail, ok := singleQuoted(rest)
		if !ok || !onlyComment(tail) {
			return p.fail()
		}
		return s
	case '{', '[':
		v, tail, ok := p.flow(rest, h, p.lines[p.pos-1].num)
		if !ok || !onlyComment(tail) {
			return p.fail()
		}
		return v
	case '&', '*', '!', '%', '@', '`', '>', '?', ',', ']', '}', ':':
		return p.fail()
	case '-':
		if rest == "-" || rest[1] == ' ' || rest[1] == '\t' {
			return p.fail() // a block sequence cannot start after "key:"
		}
	}
	s := stripComment(rest)
	if s == "" || strings.Contains(s, ": ") || strings.HasSuffix(s, ":") || strings.Contains(s, ":\t") || strings.Contains(s, " #") {
		return p.fail()
	}
	// A more-indented line after a plain scalar continues it: multi-line plain scalars
	// are left to yaml.v3.
	if next, ok := p.peek(); ok && next.indent > indent {
		return p.fail()
	}
	return resolvePlain(s)
}

// flow parses a flow sequence or mapping written on one line: [a, "b"], {k: [v]}.
// Multi-line flow collections are left to yaml.v3.
func (p *fastParser) flow(s string, h uint64, line int) (v any, tail string, ok bool) {
	defer func() { p.depth-- }()
	if !p.enter() {
		return nil, "", false
	}
	open, close := s[0], byte(']')
	if open == '{' {
		close = '}'
	}
	var seq []any
	m := map[string]any{}
	i := 1
	for n := 0; ; n++ {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return nil, "", false
		}
		if s[i] == close && (n == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == ',') {
			i++
			break
		}
		if open == '{' {
			k, next, ok := flowScalar(s, i)
			key, isStr := k.(string)
			if !ok || !isStr || key == "<<" || !strings.HasPrefix(s[next:], ": ") {
				return nil, "", false // "<<" may be a merge key: yaml.v3's
			}
			if _, dup := m[key]; dup {
				return nil, "", false
			}
			kh := hashKey(h, key)
			p.index = append(p.index, posEntry{kh, int32(line)})
			var val any
			if val, i, ok = p.flowEntry(s, next+2, kh, line); !ok {
				return nil, "", false
			}
			m[key] = val
		} else {
			ih := hashIndex(h, len(seq))
			p.index = append(p.index, posEntry{ih, int32(line)})
			item, next, ok := p.flowEntry(s, i, ih, line)
			if !ok {
				return nil, "", false
			}
			if _, isKey := item.(flowKey); isKey {
				return nil, "", false // "[a: b]" is a single-pair mapping: yaml.v3's
			}
			seq = append(seq, item)
			i = next
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		if i < len(s) && s[i] == close {
			i++
			break
		}
		return nil, "", false
	}
	if open == '{' {
		return m, s[i:], true
	}
	if seq == nil {
		seq = []any{}
	}
	return seq, s[i:], true
}

// flowKey marks a plain scalar followed by ": " inside a flow sequence.
type flowKey string

// flowEntry reads one value inside a flow collection: a nested collection or a scalar.
func (p *fastParser) flowEntry(s string, i int, h uint64, line int) (any, int, bool) {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && (s[i] == '[' || s[i] == '{') {
		v, tail, ok := p.flow(s[i:], h, line)
		return v, len(s) - len(tail), ok
	}
	v, next, ok := flowScalar(s, i)
	if ok && next < len(s) && s[next] == ':' {
		return flowKey(v.(string)), next, true
	}
	return v, next, ok
}

// flowScalar reads a quoted or plain scalar inside a flow collection, starting at i.
// Keys come back as strings (a plain key is never resolved).
func flowScalar(s string, i int) (v any, next int, ok bool) {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) {
		return nil, 0, false
	}
	switch s[i] {
	case '"', '\'':
		var val, tail string
		if s[i] == '"' {
			val, tail, ok = doubleQuoted(s[i:])
		} else {
			val, tail, ok = singleQuoted(s[i:])
		}
		return val, len(s) - len(tail), ok
	case '[', '{', '&', '*', '!', '|', '>', '%', '@', '`', '#', ',', '?', ':', '-':
		if s[i] != '-' || i+1 >= len(s) || s[i+1] == ' ' || s[i+1] == '\t' || s[i+1] == ',' {
			return nil, 0, false
		}
	}
	j := i
	for j < len(s) && strings.IndexByte(",[]{}#", s[j]) < 0 && !(s[j] == ':' && (j+1 == len(s) || s[j+1] == ' ')) {
		j++
	}
	if j < len(s) && s[j] == '#' {
		return nil, 0, false
	}
	plain := strings.TrimRight(s[i:j], " \t")
	// Indicator characters inside flow scalars follow rules of their own: yaml.v3's.
	if plain == "" || strings.ContainsAny(plain, "?:!&*|>'\"%@`\\#") {
		return nil, 0, false
	}
	if j < len(s) && s[j] == ':' {
		return plain, j, true // a key: never resolved
	}
	return resolvePlain(plain), j, true
}

// literal parses a "|" block scalar (clip, strip "-" or keep "+" chomping).
func (p *fastParser) literal(header string, indent int) any {
	chomp := stripComment(header[1:])
	if chomp != "" && chomp != "-" && chomp != "+" {
		return p.fail() // indentation indicators and folded scalars go to yaml.v3
	}
	var lines []string
	content := -1
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if strings.Trim(l.raw, " \t") == "" {
			switch {
			case content < 0:
				lines = append(lines, l.raw) // checked once the content indent is known
			case len(l.raw) > content:
				lines = append(lines, l.raw[content:])
			default:
				lines = append(lines, "")
			}
			p.pos++
			continue
		}
		if content < 0 {
			if l.indent <= indent {
				break
			}
			content = l.indent
			// Blank lines before the first content line may not be longer than its indent.
			for i, b := range lines {
				if len(b) > content {
					return p.fail()
				}
				lines[i] = ""
			}
		}
		if l.indent < content {
			break
		}
		lines = append(lines, l.raw[content:])
		p.pos++
	}
	if p.pos == len(p.lines) && p.noFinalNewline {
		return p.fail()
	}
	// Trailing blank lines: how many belong to the scalar depends on chomping.
	n := len(lines)
	for n > 0 && lines[n-1] == "" {
		n--
	}
	if content < 0 {
		for _, b := range lines {
			if b != "" {
				return p.fail() // all-space lines only: the indentation rules get subtle
			}
		}
		if chomp == "+" {
			return strings.Repeat("\n", len(lines))
		}
		return ""
	}
	body := strings.Join(lines[:n], "\n")
	switch chomp {
	case "-":
		return body
	case "+":
		return body + strings.Repeat("\n", len(lines)-n+1)
	}
	return body + "\n"
}

// splitKey splits "key: rest" or "key:" into the key and the rest.
func splitKey(text string) (key, rest string, ok bool) {
	key, rest, ok = splitKeyAny(text)
	// YAML limits implicit keys to 1024 characters.
	return key, rest, ok && len(text)-len(rest) <= 1024
}

func splitKeyAny(text string) (key, rest string, ok bool) {
	if text[0] == '"' || text[0] == '\'' {
		var tail string
		if text[0] == '"' {
			key, tail, ok = doubleQuoted(text)
		} else {
			key, tail, ok = singleQuoted(text)
		}
		if !ok || !strings.HasPrefix(tail, ":") || (len(tail) > 1 && tail[1] != ' ') {
			return "", "", false
		}
		return key, tail[1:], true
	}
	if strings.IndexByte("-?:,[]{}#&*!|>'\"%@`", text[0]) >= 0 {
		return "", "", false
	}
	i := strings.Index(text, ": ")
	if i < 0 {
		if !strings.HasSuffix(text, ":") {
			return "", "", false
		}
		i = len(text) - 1
	}
	key = strings.TrimRight(text[:i], " ")
	if key == "" || key == "<<" || strings.Contains(key, " #") || strings.ContainsAny(key, "\t") {
		return "", "", false
	}
	return key, text[i+1:], true
}

// doubleQuoted reads a double-quoted scalar that ends on its line, knowing only the
// common escapes.
func doubleQuoted(s string) (val, tail string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 >= len(s) {
				return "", "", false
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				return "", "", false
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

func singleQuoted(s string) (val, tail string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return b.String(), s[i+1:], true
		}
		b.WriteByte(s[i])
	}
	return "", "", false
}

func onlyComment(tail string) bool {
	t := strings.TrimLeft(tail, " \t")
	return t == "" || (t[0] == '#' && len(t) < len(tail))
}

// stripComment removes a " # comment" and trailing spaces from a plain value.
func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "\t#"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, " \t")
}

// resolvePlain gives a plain scalar the value yaml.v3 would: strings that cannot be
// anything else are returned as they are, the rest are resolved by yaml.v3's own rules.
func resolvePlain(s string) any {
	if s == "" {
		return nil
	}
	switch s[0] {
	case '+', '-', '.', '~', 'y', 'Y', 'n', 'N', 't', 'T', 'f', 'F', 'o', 'O', '<',
		'0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		return s
	}
	if len(s) < 12 && allDigits(s) && (s == "0" || s[0] != '0') {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	v, err := Scalar(&yaml.Node{Kind: yaml.ScalarNode, Value: s})
	if err != nil {
		return s
	}
	return v
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Scalar is the value of a yaml.v3 scalar node as JSON decoding of the same document would
// give it (nil, bool, int64, float64 or string): the fast path and yaml.v3's path resolve
// scalars with this one function, so they cannot disagree.
func Scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on", "y":
			return true, nil
		}
		return false, nil
	case "!!int":
		s := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return i, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		if f, ok := v.(float64); ok {
			return f, nil
		}
		return n.Value, nil
	case "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
			return f, nil
		}
		switch strings.ToLower(n.Value) {
		case ".inf", "+.inf":
			return math.Inf(1), nil
		case "-.inf":
			return math.Inf(-1), nil
		}
		return math.NaN(), nil
	}
	// !!str, !!timestamp (kept as written, like JSON would), !!binary and custom tags.
	return n.Value, nil
}
