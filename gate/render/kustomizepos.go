package render

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/kubegate/kubegate/gate/manifest"
)

// A field an overlay's patch sets is written in the patch, not in the base: findings on it
// point at the patch file and line. patches are read from every kustomization a root
// builds on, in the order krusty applies them (bases first, the root last).

// patch is one document of a strategic-merge patch or the operations of a JSON 6902 patch.
type patch struct {
	file   string
	kind   string         // target kind ("" = any)
	name   *regexp.Regexp // target name (kustomize reads it as a regular expression)
	smp    *yaml.Node     // strategic merge: the patch object
	ops    []jsonOp       // JSON 6902
	offset int            // added to node lines (inline patches in a kustomization)
}

type jsonOp struct {
	path []string // "/spec/replicas" → [spec replicas], JSON-pointer escapes decoded
	line int
}

// readPatches reads the patches of one kustomization (k, read from file in dir abs),
// naming files as the user sees them (shown, kfile).
func readPatches(k *types.Kustomization, abs, shown, file, kfile string) []*patch {
	var kroot yaml.Node
	kdata, _ := os.ReadFile(file)
	_ = yaml.Unmarshal(kdata, &kroot)
	var out []*patch
	for _, p := range k.Patches {
		if p.Path != "" {
			data, err := os.ReadFile(filepath.Join(abs, p.Path))
			if err != nil {
				continue // inspect has reported a missing file
			}
			out = append(out, readPatch(data, filepath.Join(shown, p.Path), 0, p.Target)...)
			continue
		}
		out = append(out, readPatch([]byte(p.Patch), kfile, inlinePatchLine(&kroot, p.Patch), p.Target)...)
	}
	return out
}

// inlinePatchLine is the line before the first line of an inline patch's text in its
// kustomization (the "patch: |" line).
func inlinePatchLine(n *yaml.Node, text string) int {
	if n.Kind == yaml.ScalarNode && n.Value == text {
		return n.Line
	}
	for _, c := range n.Content {
		if l := inlinePatchLine(c, text); l > 0 {
			return l
		}
	}
	return 0
}

func readPatch(data []byte, file string, offset int, target *types.Selector) []*patch {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var out []*patch
	for {
		var doc yaml.Node
		if dec.Decode(&doc) != nil {
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		body := doc.Content[0]
		p := &patch{file: file, offset: offset}
		switch body.Kind {
		case yaml.SequenceNode: // JSON 6902 operations
			for _, op := range body.Content {
				if path := mapValue(op, "path"); path != nil {
					steps := strings.Split(strings.TrimPrefix(path.Value, "/"), "/")
					for i, st := range steps {
						steps[i] = strings.ReplaceAll(strings.ReplaceAll(st, "~1", "/"), "~0", "~")
					}
					p.ops = append(p.ops, jsonOp{steps, op.Line})
				}
			}
		case yaml.MappingNode:
			p.smp = body
			if k := mapValue(body, "kind"); k != nil {
				p.kind = k.Value
			}
			if n := mapValue(mapValue(body, "metadata"), "name"); n != nil {
				p.name = regexp.MustCompile("^" + regexp.QuoteMeta(n.Value) + "$")
			}
		default:
			continue
		}
		if target != nil {
			p.kind = target.Kind
			p.name = nil
			if target.Name != "" {
				p.name, _ = regexp.Compile("^(?:" + target.Name + ")$")
			}
		}
		out = append(out, p)
	}
	return out
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// targets says whether the patch applies to a base object (kind, name before prefixes).
func (p *patch) targets(kind, name string) bool {
	return (p.kind == "" || p.kind == kind) && (p.name == nil || p.name.MatchString(name))
}

// line returns the patch's line for the field at path of object raw, or 0 when the patch
// does not write it. List items of a strategic-merge patch are matched by name, as the
// merge does.
func (p *patch) line(raw map[string]any, path []manifest.PathStep) int {
	if p.smp == nil {
		return p.opLine(path)
	}
	n, line := p.smp, 0
	var cur any = raw
	for _, st := range path {
		if st.Key != "" {
			v := mapValue(n, st.Key)
			if v == nil {
				return 0
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == st.Key {
					line = n.Content[i].Line
				}
			}
			n = v
			m, _ := cur.(map[string]any)
			cur = m[st.Key]
			continue
		}
		list, _ := cur.([]any)
		if n.Kind != yaml.SequenceNode || st.Index >= len(list) {
			return 0
		}
		item := list[st.Index]
		var match *yaml.Node
		if m, ok := item.(map[string]any); ok && m["name"] != nil {
			for _, e := range n.Content {
				if v := mapValue(e, "name"); v != nil && v.Value == m["name"] {
					match = e
				}
			}
		} else if st.Index < len(n.Content) {
			match = n.Content[st.Index]
		}
		if match == nil {
			return 0
		}
		n, line, cur = match, match.Line, item
	}
	if line == 0 {
		return 0
	}
	return line + p.offset
}

// opLine is the line of the last operation whose path is the field's, or under or above it.
func (p *patch) opLine(path []manifest.PathStep) int {
	steps := make([]string, len(path))
	for i, st := range path {
		if st.Key != "" {
			steps[i] = st.Key
		} else {
			steps[i] = strconv.Itoa(st.Index)
		}
	}
	line := 0
	for _, op := range p.ops {
		n := min(len(op.path), len(steps))
		same := true
		for i := range n {
			if op.path[i] != steps[i] {
				same = false
				break
			}
		}
		if same && n > 0 {
			line = op.line + p.offset
		}
	}
	return line
}

// relocatePatched makes the fields of o that a patch sets point at the patch (the last
// applied wins), the others where they were.
func relocatePatched(o *manifest.Object, baseName string, patches []*patch) {
	var mine []*patch
	for _, p := range patches {
		if p.targets(o.Kind, baseName) {
			mine = append(mine, p)
		}
	}
	if len(mine) == 0 {
		return
	}
	raw := o.Raw() // kept for the lookups, after the checks release o's tree
	o.Relocate(func(path []manifest.PathStep, decoded func([]manifest.PathStep) int) manifest.Source {
		for i := len(mine) - 1; i >= 0; i-- {
			if l := mine[i].line(raw, path); l > 0 {
				return manifest.Source{File: mine[i].file, Line: l}
			}
		}
		return manifest.Source{Line: decoded(path)}
	})
}
