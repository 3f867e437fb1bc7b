package render

import (
	"os"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/strvals"

	"github.com/kubegate/kubegate/gate/manifest"
)

// Helm templates are not YAML until rendered, so a finding's line in a template is found by
// aligning the rendered text with the template's: the rendered document is matched to the
// part of the template (between "---" lines) that wrote it, and a rendered line to the line
// of that part that writes the same key under the same parent keys. A field the template
// does not write itself (toYaml .Values.x | nindent) points at its nearest written parent,
// and at the values file line that sets it.

// helmSeparator is Helm's document separator (pkg/release/v1/util.SplitManifests): a line
// that starts with "---", whatever follows ("---# comment" included).
var helmSeparator = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^---[ \t]*`) })

// renderedDoc is one document of a template's output, as `helm template` prints it.
type renderedDoc struct {
	text string
	line int // line of text's first byte in the template's output
}

// helmDocuments splits a template's output the way Helm does: at every "---" line start,
// leading white space trimmed from each document, and a line break added after it (Helm
// prints "%s\n"), which a block scalar ending the document keeps.
func helmDocuments(out string) []renderedDoc {
	var docs []renderedDoc
	start := 0
	emit := func(end int) {
		d := out[start:end]
		trimmed := strings.TrimLeftFunc(d, unicode.IsSpace)
		if strings.TrimSpace(trimmed) == "" {
			return
		}
		off := end - len(trimmed)
		docs = append(docs, renderedDoc{trimmed + "\n", 1 + strings.Count(out[:off], "\n")})
	}
	for _, m := range helmSeparator().FindAllStringIndex(out, -1) {
		emit(m[0])
		start = m[1]
	}
	emit(len(out))
	return docs
}

// keyOf returns the mapping key a YAML line writes literally ("name" for "  - name: x"),
// or "" when the line writes none or the key is itself templated.
func keyOf(line string) string {
	t := strings.TrimLeft(line, " \t")
	for strings.HasPrefix(t, "- ") || t == "-" {
		t = strings.TrimLeft(t[1:], " \t")
	}
	if t == "" || t[0] == '#' || strings.HasPrefix(t, "{{") {
		return ""
	}
	i := 0
	if t[0] == '"' || t[0] == '\'' {
		end := strings.IndexByte(t[1:], t[0])
		if end < 0 {
			return ""
		}
		i = end + 2
	} else {
		for i < len(t) && t[i] != ':' && t[i] != ' ' && t[i] != '{' {
			i++
		}
	}
	if i >= len(t) || t[i] != ':' || (i+1 < len(t) && t[i+1] != ' ' && t[i+1] != '\t') {
		return ""
	}
	return strings.Trim(t[:i], `"'`)
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// template is one template file's text, cut into the parts between "---" lines.
type template struct {
	file    string
	lines   []string
	regions [][2]int // [first, end) 0-based line ranges
}

func readTemplate(file string) *template {
	data, _ := os.ReadFile(file)
	t := &template{file: file, lines: strings.Split(string(data), "\n")}
	start := 0
	for i, l := range t.lines {
		if strings.HasPrefix(l, "---") {
			t.regions = append(t.regions, [2]int{start, i})
			start = i + 1
		}
	}
	t.regions = append(t.regions, [2]int{start, len(t.lines)})
	return t
}

// keysIn counts the literal keys a range of lines writes.
func keysIn(lines []string) map[string]int {
	keys := map[string]int{}
	for _, l := range lines {
		if k := keyOf(l); k != "" {
			keys[k]++
		}
	}
	return keys
}

// regionFor picks the part of the template that wrote a rendered document: the one writing
// most of the document's keys (its kind line counting most), the first such at or after
// the previous document's part on a tie, as templates render in order.
func (t *template) regionFor(doc []string, prev int) int {
	kind := ""
	for _, l := range doc {
		if strings.HasPrefix(l, "kind:") {
			kind = strings.TrimSpace(l)
			break
		}
	}
	docKeys := keysIn(doc)
	best, bestScore := -1, -1
	for i, r := range t.regions {
		region := t.lines[r[0]:r[1]]
		score := 0
		for k := range keysIn(region) {
			if docKeys[k] > 0 {
				score++
			}
		}
		for _, l := range region {
			if kind != "" && strings.TrimSpace(l) == kind {
				score += 1000
				break
			}
		}
		if score > bestScore || score == bestScore && best < prev && i >= prev {
			best, bestScore = i, score
		}
	}
	return best
}

// docPositions maps the lines of one rendered document to its part of the template.
type docPositions struct {
	t      *template
	region [2]int
	doc    []string // the rendered document's lines
	values *valuesFiles
}

// objectLine is the line of the object in the template: its kind line when the part writes
// it, else the part's first line with content.
func (p *docPositions) objectLine(kindLine int) int {
	if l := p.templateLine(kindLine); l > 0 {
		return l
	}
	for i := p.region[0]; i < p.region[1]; i++ {
		if t := strings.TrimSpace(p.t.lines[i]); t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "{{") {
			return i + 1
		}
	}
	return p.region[0] + 1
}

// parents lists the keys of the lines enclosing line i (0-based) by indentation, nearest
// first; lines that are only template actions are skipped.
func parents(lines []string, i, floor int) []string {
	var out []string
	ind := indentOf(lines[i])
	for j := i - 1; j >= floor && ind > 0; j-- {
		l := lines[j]
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || strings.HasPrefix(t, "{{") {
			continue
		}
		if in := indentOf(l); in < ind {
			ind = in
			out = append(out, keyOf(l))
		}
	}
	return out
}

// templateLine maps a 1-based line of the rendered document to the 1-based line of the
// template that writes the same key under the same parents; 0 when none does.
func (p *docPositions) templateLine(line int) int {
	if line < 1 || line > len(p.doc) {
		return 0
	}
	key := keyOf(p.doc[line-1])
	if key == "" {
		return 0
	}
	var cands []int
	for i := p.region[0]; i < p.region[1]; i++ {
		if keyOf(p.t.lines[i]) == key {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return 0
	}
	if len(cands) == 1 {
		return cands[0] + 1
	}
	want := parents(p.doc, line-1, 0)
	// The occurrence of the key among rendered lines with the same parents breaks ties,
	// so the second container's "image:" maps to the second written one.
	occurrence := 0
	for j := 0; j < line-1; j++ {
		if keyOf(p.doc[j]) == key && commonPrefix(parents(p.doc, j, 0), want) == len(want) {
			occurrence++
		}
	}
	best, bestScore, seen := -1, -1, 0
	for _, c := range cands {
		score := commonPrefix(parents(p.t.lines, c, p.region[0]), want)
		if score == len(want) {
			if seen == occurrence {
				return c + 1
			}
			seen++
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best + 1
}

func commonPrefix(a, b []string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// relocate is the Relocate function of an object of this document: the field's line in
// the template, else its nearest written parent's, with the values file line when the
// template writes that parent's content from values.
func (p *docPositions) relocate(objLine int) func([]manifest.PathStep, func([]manifest.PathStep) int) manifest.Source {
	return func(path []manifest.PathStep, decoded func([]manifest.PathStep) int) manifest.Source {
		for n := len(path); n > 0; n-- {
			t := p.templateLine(decoded(path[:n]))
			if t == 0 {
				continue
			}
			return manifest.Source{Line: t, Values: p.values.lookup(p.t, p.region, t, path[n:], n == len(path))}
		}
		return manifest.Source{Line: objLine}
	}
}

// valuesExpr finds what a template line (or the action lines right under it) writes from
// values: "toYaml .Values.x", "{{ .Values.x }}", or "toYaml ." inside "with .Values.x".
var valuesExpr = sync.OnceValues(func() (*regexp.Regexp, *regexp.Regexp) {
	return regexp.MustCompile(`\$?\.Values((?:\.[A-Za-z0-9_]+)+)`),
		regexp.MustCompile(`toYaml \.\s*[|)}]`)
})

// valuesFiles are the values files of a chart in the order Helm merges them: the chart's
// values.yaml, then -f files (later ones win).
type valuesFiles struct {
	chartDir string
	files    []string
	set      []string // --set values, which win over files
	mu       sync.Mutex
	trees    map[string]*yaml.Node
}

// lookup returns the values file and line that set the value a template line writes from
// values, extended by rest (the path below that line). exact: the field itself is on the
// line, so only a value written on the same line counts.
func (v *valuesFiles) lookup(t *template, region [2]int, line int, rest []manifest.PathStep, exact bool) *manifest.ValuesRef {
	if v == nil {
		return nil
	}
	re, toYamlDot := valuesExpr()
	src := t.lines[line-1]
	if !exact {
		// The parent's content is written by the action lines right under it.
		src = ""
		for i := line; i < region[1] && i < line+3; i++ {
			s := strings.TrimSpace(t.lines[i])
			if !strings.HasPrefix(s, "{{") {
				break
			}
			if strings.Contains(s, "toYaml") {
				src = s
				break
			}
		}
	}
	var vpath string
	if m := re.FindStringSubmatch(src); m != nil {
		vpath = m[1][1:]
	} else if toYamlDot.MatchString(src) {
		// toYaml . inside "{{- with .Values.x }}": the nearest with above.
		for i := line - 2; i >= region[0]; i-- {
			if strings.Contains(t.lines[i], "with ") {
				if m := re.FindStringSubmatch(t.lines[i]); m != nil {
					vpath = m[1][1:]
				}
				break
			}
		}
	}
	if vpath == "" {
		return nil
	}
	for _, s := range rest {
		if k := s.Key; k != "" {
			vpath += "." + k
		} else {
			break // list items of values: the list's line
		}
	}
	return v.find(t.file, vpath)
}

// find returns the last values file that sets vpath (or the deepest parent of it the
// chart's own values.yaml writes).
func (v *valuesFiles) find(templateFile, vpath string) *manifest.ValuesRef {
	chartDir, prefix := v.chartDir, ""
	// A subchart's template reads its own values.yaml, and the parent's under its name.
	if rel, ok := strings.CutPrefix(templateFile, v.chartDir+"/charts/"); ok {
		sub, _, _ := strings.Cut(rel, "/")
		chartDir, prefix = v.chartDir+"/charts/"+sub, sub+"."
	}
	keys := strings.Split(vpath, ".")
	var userKeys []string
	if prefix != "" {
		userKeys = append(strings.Split(strings.TrimSuffix(prefix, "."), "."), keys...)
	} else {
		userKeys = keys
	}
	for i := len(v.set) - 1; i >= 0; i-- {
		if m, err := strvals.Parse(v.set[i]); err == nil && lookupKeys(m, userKeys) {
			return &manifest.ValuesRef{File: "--set", Path: prefix + vpath}
		}
	}
	for i := len(v.files) - 1; i >= 0; i-- {
		if l, full := v.line(v.files[i], userKeys); full {
			return &manifest.ValuesRef{File: v.files[i], Line: l, Path: prefix + vpath}
		}
	}
	own := chartDir + "/values.yaml"
	if l, _ := v.line(own, keys); l > 0 {
		return &manifest.ValuesRef{File: own, Line: l, Path: vpath}
	}
	return &manifest.ValuesRef{File: own, Path: vpath}
}

func lookupKeys(m map[string]any, keys []string) bool {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = mm[k]; !ok {
			return false
		}
	}
	return true
}

// line returns the line of keys in a values file (or of its deepest parent written there)
// and whether the whole path is written.
func (v *valuesFiles) line(file string, keys []string) (int, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	root, ok := v.trees[file]
	if !ok {
		root = &yaml.Node{}
		if data, err := os.ReadFile(file); err != nil || yaml.Unmarshal(data, root) != nil {
			root = nil
		}
		if v.trees == nil {
			v.trees = map[string]*yaml.Node{}
		}
		v.trees[file] = root
	}
	if root == nil || len(root.Content) == 0 {
		return 0, false
	}
	n, line := root.Content[0], 0
	for _, k := range keys {
		var next *yaml.Node
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return line, false
		}
		n = next
	}
	return line, true
}
