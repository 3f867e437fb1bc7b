// Package diff compares the gate's run on a change with its run on the change's base, so
// that a pull request fails only on what it introduces. Findings are matched by what they
// are about (rule, object, field, container, subject: Finding.Key), never by line; the
// rendered objects are matched by kind, namespace and name, and those that differ list the
// fields that changed, as `helm diff` would show what a values change does to the cluster.
package diff

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
)

// Findings sets the Status of each head finding — New unless the base has a finding with
// the same key, at the same severity or higher — and returns the base findings the head
// no longer has (fixed). A key is matched first with the plain file's path (FileKey: the
// same object in two files stays apart), then without it (Key: a renamed file is not a
// new finding). Each base finding matches one head finding. A finding the change made
// more severe (a NetworkPolicy rule that no longer only admits a webhook's callers) is
// new: the key leaves severity out.
func Findings(head []finding.Finding, base []finding.Finding) (fixed []finding.Finding) {
	pair, used := match(head, base, finding.Finding.FileKey, finding.Finding.Key)
	for i := range head {
		head[i].Status = finding.New
		if pair[i] >= 0 && head[i].Severity <= base[pair[i]].Severity {
			head[i].Status = finding.Unchanged
		}
	}
	for i, b := range base {
		if !used[i] {
			fixed = append(fixed, b)
		}
	}
	return fixed
}

// match pairs each head item with a base item of the same key, trying keys in order (a
// stricter key first); each base item pairs once. pair[i] is head[i]'s base index, -1
// for none; used[j] says base[j] paired.
func match[T any](head, base []T, keys ...func(T) string) (pair []int, used []bool) {
	pair, used = make([]int, len(head)), make([]bool, len(base))
	for i := range pair {
		pair[i] = -1
	}
	for _, key := range keys {
		left := map[string][]int{}
		for j, b := range base {
			if !used[j] {
				left[key(b)] = append(left[key(b)], j)
			}
		}
		for i, h := range head {
			if pair[i] >= 0 {
				continue
			}
			if k := key(h); len(left[k]) > 0 {
				pair[i], used[left[k][0]], left[k] = left[k][0], true, left[k][1:]
			}
		}
	}
	return pair, used
}

// Objects is the change to the rendered objects.
type Objects struct {
	Added   []Object `json:"added"`
	Removed []Object `json:"removed"`
	Changed []Object `json:"changed"`
}

// Object is one added, removed or changed object, where it is written (on the side that
// has it; the head's for a changed one) and, when changed, the fields that changed.
type Object struct {
	Object manifest.Ref    `json:"object"`
	Source manifest.Source `json:"source"`
	Fields []Field         `json:"fields,omitempty"`
	// MoreFields counts the changed fields left out of Fields (MaxFields).
	MoreFields int `json:"moreFields,omitempty"`
}

// Field is one changed field: its value before and after, as short text; "" means the
// field is absent on that side.
type Field struct {
	Path string `json:"path"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// MaxFields caps the fields listed per changed object: a reviewer needs the gist, and a
// regenerated ConfigMap can differ in thousands of lines.
const MaxFields = 50

// maxValue caps a value's text.
const maxValue = 120

// hidden stands for the values of a Secret's data: a diff is posted where the Secret
// itself is not (a pull request comment).
const hidden = "(hidden)"

// Compare matches the head's objects with the base's (by API group, kind, namespace and
// name; the producing input — Kustomize root, chart, file — first, so that the same object
// in two overlays stays apart) and lists what was added, removed and changed. Fields a
// renderer makes up at each render (a chart's random password: Object.Generated) are not
// changes.
func Compare(head, base []*manifest.Object) Objects {
	var out Objects
	pair, used := match(head, base, func(o *manifest.Object) string { return identity(o) + "\x00" + input(o.Source) }, identity)
	for i, h := range head {
		if pair[i] < 0 {
			out.Added = append(out.Added, Object{Object: h.Ref(), Source: h.Source})
			continue
		}
		if fields, more := changes(base[pair[i]], h); len(fields) > 0 {
			out.Changed = append(out.Changed, Object{Object: h.Ref(), Source: h.Source, Fields: fields, MoreFields: more})
		}
	}
	for i, b := range base {
		if !used[i] {
			out.Removed = append(out.Removed, Object{Object: b.Ref(), Source: b.Source})
		}
	}
	return out
}

// identity is what names an object in a cluster: API group, kind, namespace, name (not
// the version: apps/v1beta2 → apps/v1 is a change of the same object).
func identity(o *manifest.Object) string {
	group, _, _ := strings.Cut(o.APIVersion, "/")
	if !strings.Contains(o.APIVersion, "/") {
		group = ""
	}
	return strings.Join([]string{group, o.Kind, o.Namespace, o.Name}, "\x00")
}

// input is what produced an object: its Kustomize root or chart, else its file.
func input(s manifest.Source) string {
	if s.Via != "" {
		return s.Via
	}
	return s.File
}

func changes(base, head *manifest.Object) ([]Field, int) {
	secret := head.Kind == "Secret" && !strings.Contains(head.APIVersion, "/")
	var fields []Field
	n := 0
	for _, c := range manifest.Changes(base.Raw(), head.Raw()) {
		if head.Generated[c.Path] || base.Generated[c.Path] {
			continue
		}
		if n++; len(fields) == MaxFields {
			continue
		}
		f := Field{Path: c.Path, Old: text(c.Old), New: text(c.New)}
		if secret && (strings.HasPrefix(c.Path, "data") || strings.HasPrefix(c.Path, "stringData")) {
			f.Old, f.New = mask(c.Old), mask(c.New)
		}
		fields = append(fields, f)
	}
	return fields, n - len(fields)
}

func mask(v any) string {
	if v == nil {
		return ""
	}
	return hidden
}

// text is a value as a reviewer reads it: a scalar as YAML writes it, a mapping or list
// as compact JSON, shortened.
func text(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		s = v
		if s == "" {
			s = `""`
		}
	case map[string]any, []any:
		b, err := json.Marshal(v)
		if err != nil {
			s = fmt.Sprint(v)
		} else {
			s = string(b)
		}
	default:
		s = fmt.Sprint(v)
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxValue {
		s = string(r[:maxValue-1]) + "…"
	}
	return s
}

// Empty says whether nothing rendered changed.
func (o Objects) Empty() bool { return len(o.Added)+len(o.Removed)+len(o.Changed) == 0 }

// Sort orders each list by source, then object: reports diff cleanly.
func (o *Objects) Sort() {
	for _, l := range [][]Object{o.Added, o.Removed, o.Changed} {
		slices.SortStableFunc(l, func(a, b Object) int {
			return strings.Compare(a.Source.File+"\x00"+a.Object.String(), b.Source.File+"\x00"+b.Object.String())
		})
	}
}
