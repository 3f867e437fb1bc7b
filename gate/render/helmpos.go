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

// template is one template file's text, cut into the parts between "---" lines, with the
// key each line writes read once.
type template struct {
	file       string
	lines      []string
	keys       []string          // keyOf each line
	regions    [][2]int          // [first, end) 0-based line ranges
	regionKeys []map[string]bool // the keys each region writes
	parents    [][]string        // parents of each line within its region, on first use
}

func newTemplate(file string, data []byte) *template {
	t := &template{file: file, lines: strings.Split(string(data), "\n")}
	t.keys = make([]string, len(t.lines))
	t.parents = make([][]string, len(t.lines))
	start := 0
	for i, l := range t.lines {
		t.keys[i] = keyOf(l)
		if strings.HasPrefix(l, "---") {
			t.regions = append(t.regions, [2]int{start, i})
			start = i + 1
		}
	}
	t.regions = append(t.regions, [2]int{start, len(t.lines)})
	for _, r := range t.regions {
		keys := map[string]bool{}
		for _, k := range t.keys[r[0]:r[1]] {
			if k != "" {
				keys[k] = true
			}
		}
		t.regionKeys = append(t.regionKeys, keys)
	}
	return t
}

// regionFor picks the part of the template that wrote a rendered document: the one writing
// most of the document's keys (its kind line counting most), the first such at or after
// the previous document's part on a tie, as templates render in order.
func (t *template) regionFor(doc *renderedLines, prev int) int {
	kind := ""
	for _, l := range doc.lines {
		if strings.HasPrefix(l, "kind:") {
			kind = strings.TrimSpace(l)
			break
		}
	}
	docKeys := map[string]bool{}
	for _, k := range doc.keys {
		docKeys[k] = true
	}
	best, bestScore := -1, -1
	for i, r := range t.regions {
		score := 0
		for k := range t.regionKeys[i] {
			if docKeys[k] {
				score++
			}
		}
		for _, l := range t.lines[r[0]:r[1]] {
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

// renderedLines is one rendered document's lines, with the key each writes and, on first
// use, the keys enclosing each.
type renderedLines struct {
	lines, keys []string
	parents     [][]string
}

func newRenderedLines(text string) *renderedLines {
	d := &renderedLines{lines: strings.Split(text, "\n")}
	d.keys = make([]string, len(d.lines))
	d.parents = make([][]string, len(d.lines))
	for i, l := range d.lines {
		d.keys[i] = keyOf(l)
	}
	return d
}

// docPositions maps the lines of one rendered document to its part of the template.
type docPositions struct {
	t      *template
	region [2]int
	doc    *renderedLines
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

// parentsOf lists the keys of the lines enclosing line i (0-based) by indentation,
// nearest first, from floor on; lines that are only template actions are skipped. The
// result is kept in memo.
func parentsOf(lines, keys []string, memo [][]string, i, floor int) []string {
	if memo[i] != nil {
		return memo[i]
	}
	out := []string{}
	ind := indentOf(lines[i])
	for j := i - 1; j >= floor && ind > 0; j-- {
		t := strings.TrimSpace(lines[j])
		if t == "" || t[0] == '#' || strings.HasPrefix(t, "{{") {
			continue
		}
		if in := indentOf(lines[j]); in < ind {
			ind = in
			out = append(out, keys[j])
		}
	}
	memo[i] = out
	return out
}

// templateLine maps a 1-based line of the rendered document to the 1-based line of the
// template that writes the same key under the same parents; 0 when none does.
func (p *docPositions) templateLine(line int) int {
	d, t := p.doc, p.t
	if line < 1 || line > len(d.lines) {
		return 0
	}
	key := d.keys[line-1]
	if key == "" {
		return 0
	}
	var cands []int
	for i := p.region[0]; i < p.region[1]; i++ {
		if t.keys[i] == key {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return 0
	}
	if len(cands) == 1 {
		return cands[0] + 1
	}
	want := parentsOf(d.lines, d.keys, d.parents, line-1, 0)
	// The occurrence of the key among rendered lines with the same parents breaks ties,
	// so the second container's "image:" maps to the second written one.
	occurrence := 0
	for j := 0; j < line-1; j++ {
		if d.keys[j] == key && commonPrefix(parentsOf(d.lines, d.keys, d.parents, j, 0), want) == len(want) {
			occurrence++
		}
	}
	best, bestScore, seen := -1, -1, 0
	for _, c := range cands {
		score := commonPrefix(parentsOf(t.lines, t.keys, t.parents, c, p.region[0]), want)
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

// valuesFiles are the values a chart renders with, in the order Helm merges them: the
// chart's values.yaml, -f files (later ones win), --set values (which win over files).
type valuesFiles struct {
	chartDir string
	files    []string
	set      []map[string]any // each --set, parsed once
	mu       sync.Mutex
	trees    map[string]*yaml.Node
}

func newValuesFiles(chartDir string, opts Options) *valuesFiles {
	v := &valuesFiles{chartDir: chartDir, files: opts.ValuesFiles}
	for _, s := range opts.SetValues {
		if m, err := strvals.Parse(s); err == nil { // the render parsed them already
			v.set = append(v.set, m)
		}
	}
	return v
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
	userPath := prefix + vpath
	for i := len(v.set) - 1; i >= 0; i-- {
		if manifest.Lookup(v.set[i], strings.Split(userPath, ".")...) != nil {
			return &manifest.ValuesRef{File: "--set", Path: userPath}
		}
	}
	for i := len(v.files) - 1; i >= 0; i-- {
		if l, full := v.line(v.files[i], userPath); full {
			return &manifest.ValuesRef{File: v.files[i], Line: l, Path: userPath}
		}
	}
	own := chartDir + "/values.yaml"
	if l, _ := v.line(own, vpath); l > 0 {
		return &manifest.ValuesRef{File: own, Line: l, Path: vpath}
	}
	return &manifest.ValuesRef{File: own, Path: vpath}
}

// line returns the line of a dotted values path in a values file (or of its deepest parent
// written there) and whether the whole path is written; each file is parsed once.
func (v *valuesFiles) line(file, vpath string) (int, bool) {
	v.mu.Lock()
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
	v.mu.Unlock()
	if root == nil {
		return 0, false
	}
	path := ""
	for _, k := range strings.Split(vpath, ".") {
		path = manifest.Field(path, k)
	}
	return manifest.NodeFind(root, path)
}
