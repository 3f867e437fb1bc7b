// Package schema validates objects against the schema of their kind, as the API server
// would: built-in kinds against the field schema the API server applies (client-go's
// structured-merge-diff schema for server-side apply, embedded at go generate time),
// custom resources against the openAPIV3Schema of their CustomResourceDefinition.
// Validation itself is structured-merge-diff's, the library the API server uses.
package schema

//go:generate go run ./gen

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/agnivade/levenshtein"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/schema/internal/wire"
)

//go:embed builtin.json.gz
var builtinData []byte

// builtin is the embedded schema: kinds by group/version, and the types.
type builtin struct {
	kinds  map[string]map[string]string // "apps/v1" → "Deployment" → type name
	groups map[string][]string          // "apps" → its versions
	parser *typed.Parser
}

// loadBuiltin decodes the embedded schema once per process, on first use (start-up time
// is budgeted: commands that validate nothing never pay for it).
var loadBuiltin = sync.OnceValues(loadBuiltinUncached)

func loadBuiltinUncached() (*builtin, error) {
	zr, err := gzip.NewReader(bytes.NewReader(builtinData))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	b := &builtin{groups: map[string][]string{}, parser: &typed.Parser{}}
	var doc struct {
		Kinds  map[string]map[string]string
		Schema json.RawMessage
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	b.kinds = doc.Kinds
	if err := wire.Decode(doc.Schema, &b.parser.Schema); err != nil {
		return nil, err
	}
	for gv := range b.kinds {
		g, v := splitGV(gv)
		b.groups[g] = append(b.groups[g], v)
	}
	for _, vs := range b.groups {
		slices.Sort(vs)
	}
	builtinReady.Store(true)
	return b, nil
}

func splitGV(apiVersion string) (group, version string) {
	if g, v, ok := strings.Cut(apiVersion, "/"); ok {
		return g, v
	}
	return "", apiVersion
}

// Problem is one way an object does not fit the schema of its kind.
type Problem struct {
	Kind  ProblemKind
	Field string // field path ("spec.template.spec.containers[0].securityContex"); "" for the object
	Msg   string
}

// ProblemKind sorts problems into the schema rules.
type ProblemKind int

const (
	UnknownAPIVersion ProblemKind = iota // the group is served, this version of it is not
	UnknownKind                          // the group/version is served, this kind is not
	UnknownField                         // the API server would drop the field silently
	WrongType                            // the API server would reject the value
)

// Verdict is what the schema says about one object.
type Verdict struct {
	Problems []Problem
	// NotValidated: no schema for the kind (a custom resource whose definition is not
	// among the inputs, or an API the embedded schema does not describe).
	NotValidated bool
}

// Validator validates objects against the built-in schema and the definitions of the
// custom resources among the inputs.
type Validator struct {
	crds    *crdSchemas
	removed func(apiVersion, kind string) bool
}

// Preload starts decoding the embedded schema in the background, so that it overlaps with
// rendering and decoding the inputs.
func Preload() { go loadBuiltin() }

// NewValidator makes a validator knowing the CustomResourceDefinitions among objs.
// removed (may be nil) says which kinds the target Kubernetes no longer serves, so that
// messages list only the versions it serves.
func NewValidator(crds []*CRD, removed func(apiVersion, kind string) bool) (*Validator, error) {
	if _, err := loadBuiltin(); err != nil {
		return nil, fmt.Errorf("embedded API schema: %v", err)
	}
	return &Validator{crds: newCRDSchemas(crds), removed: removed}, nil
}

// builtinReady is set once the embedded schema is decoded.
var builtinReady atomic.Bool

// ValidateBuiltin validates o when its kind is built in and the embedded schema is
// already decoded (Preload), without waiting for it: ok is false otherwise, and a
// Validator validates o later. The verdict is the Validator's: a built-in kind's does not
// depend on the other inputs.
func ValidateBuiltin(o *manifest.Object) (v Verdict, ok bool) {
	if !builtinReady.Load() {
		return Verdict{}, false
	}
	b, _ := loadBuiltin()
	typeName, ok := b.kinds[o.APIVersion][o.Kind]
	if !ok {
		return Verdict{}, false
	}
	return Verdict{Problems: validate(b.parser, typeName, o.Raw())}, true
}

// served says whether the target serves any kind of group/version gv.
func (v *Validator) served(b *builtin, gv string) bool {
	for kind := range b.kinds[gv] {
		if v.removed == nil || !v.removed(gv, kind) {
			return true
		}
	}
	return false
}

// Validate checks one object.
func (v *Validator) Validate(o *manifest.Object) Verdict {
	b, _ := loadBuiltin()
	group, version := splitGV(o.APIVersion)
	if typeName, ok := b.kinds[o.APIVersion][o.Kind]; ok {
		return validateTree(o, func(raw map[string]any) []Problem { return validate(b.parser, typeName, raw) })
	}
	if kinds, ok := b.kinds[o.APIVersion]; ok {
		msg := fmt.Sprintf("%s has no kind %q", o.APIVersion, o.Kind)
		if s := closest(o.Kind, slices.Sorted(maps.Keys(kinds))); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return Verdict{Problems: []Problem{{Kind: UnknownKind, Field: "kind", Msg: msg}}}
	}
	if versions, ok := b.groups[group]; ok {
		var served, alpha []string
		for _, ver := range versions {
			switch gv := joinGV(group, ver); {
			case !v.served(b, gv):
			case strings.Contains(ver, "alpha"):
				alpha = append(alpha, gv)
			default:
				served = append(served, gv)
			}
		}
		msg := fmt.Sprintf("apiVersion %q does not exist: %s is served as %s", o.APIVersion, groupName(group), strings.Join(served, ", "))
		if len(served) == 0 {
			msg = fmt.Sprintf("apiVersion %q does not exist in %s", o.APIVersion, groupName(group))
		}
		if len(alpha) > 0 {
			msg += fmt.Sprintf(" (alpha, off by default: %s)", strings.Join(alpha, ", "))
		}
		return Verdict{Problems: []Problem{{Kind: UnknownAPIVersion, Field: "apiVersion", Msg: msg}}}
	}
	if crd := v.crds.find(group, version, o.Kind); crd != nil {
		return validateTree(o, crd.validate)
	}
	if !strings.Contains(group, ".") && group != "" || version == "" {
		// Every custom resource group has a dot: a dot-less unknown group is a typo.
		msg := fmt.Sprintf("apiVersion %q names no API group Kubernetes serves", o.APIVersion)
		if s := closest(group, slices.Sorted(maps.Keys(b.groups))); s != "" {
			msg += fmt.Sprintf(" (did you mean %s/%s?)", s, version)
		}
		return Verdict{Problems: []Problem{{Kind: UnknownAPIVersion, Field: "apiVersion", Msg: msg}}}
	}
	return Verdict{NotValidated: true}
}

// validateTree validates o's tree, or a released object's decoded again from its text.
func validateTree(o *manifest.Object, validate func(map[string]any) []Problem) Verdict {
	raw, ok := o.Redecode()
	if !ok { // a defect of kubegate's: never a silent pass
		return Verdict{Problems: []Problem{{Kind: WrongType, Msg: "kubegate: the object's tree was released before it was validated"}}}
	}
	return Verdict{Problems: validate(raw)}
}

func joinGV(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

func groupName(g string) string {
	if g == "" {
		return "the core group"
	}
	return "group " + g
}

// validate runs structured-merge-diff's validation of raw as typeName. The library
// stops at the first undeclared field of each mapping, in map order, so validation runs
// again on a copy without the fields found, until none is left: every problem is
// reported, in the same order on every run.
func validate(p *typed.Parser, typeName string, raw map[string]any) []Problem {
	var out []Problem
	seen := map[Problem]bool{}
	obj, copied := raw, false
	for range maxRounds {
		_, err := p.Type(typeName).FromUnstructured(obj)
		if err == nil {
			break
		}
		var ves typed.ValidationErrors
		if !errors.As(err, &ves) {
			out = append(out, Problem{Kind: WrongType, Msg: err.Error()})
			break
		}
		var unknown []string
		for _, ve := range ves {
			pr := problem(obj, ve)
			if pr.Kind == UnknownField {
				unknown = append(unknown, ve.Path)
			}
			if !seen[pr] {
				seen[pr] = true
				out = append(out, pr)
			}
		}
		if len(unknown) == 0 {
			break
		}
		if !copied {
			obj, copied = runtime.DeepCopyJSON(raw), true
		}
		for _, path := range unknown {
			if parent, key := parentOf(obj, path); parent != nil {
				delete(parent, key)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// maxRounds bounds revalidation: each round removes at least one field.
const maxRounds = 64

// parentOf returns the mapping holding the last key of a structured-merge-diff path, and
// the key (which may hold dots itself: the longest the mapping has).
func parentOf(raw map[string]any, path string) (map[string]any, string) {
	for j := strings.LastIndexByte(path, '.'); j >= 0; j = strings.LastIndexByte(path[:j], '.') {
		var parent any = raw
		if j > 0 {
			_, _, parent, _ = fieldPath(raw, path[:j])
		}
		if m, ok := parent.(map[string]any); ok {
			if _, has := m[path[j+1:]]; has {
				return m, path[j+1:]
			}
		}
		if j == 0 {
			break
		}
	}
	return nil, ""
}

// problem turns a structured-merge-diff error into a problem at a field path.
func problem(raw map[string]any, ve typed.ValidationError) Problem {
	field, last, value, found := fieldPath(raw, ve.Path)
	msg := ve.ErrorMessage
	switch {
	case strings.Contains(msg, "field not declared in schema"):
		if field == "" {
			field = last
		}
		return Problem{Kind: UnknownField, Field: field, Msg: fmt.Sprintf("unknown field %q: the API server drops it silently", last)}
	case strings.HasPrefix(msg, "expected ") && found:
		// The library prints the value as a Go struct: say it as written.
		want, _, _ := strings.Cut(msg, ", got ")
		msg = fmt.Sprintf("%s, got %s", want, describe(value))
	}
	return Problem{Kind: WrongType, Field: field, Msg: fmt.Sprintf("%s: %s", displayPath(field), msg)}
}

// describe says what a decoded value is: `string "yes"`, `4`, `a list`.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func displayPath(field string) string {
	if field == "" {
		return "object"
	}
	return field
}

// fieldPath converts a structured-merge-diff path (`.spec.containers[name="a"].x`,
// `.metadata.labels.app.kubernetes.io/name`) into a kubegate field path by walking raw
// (map keys may hold dots; list items are named by key fields). last is the final key,
// value the value there (found: the whole path was walked).
func fieldPath(raw map[string]any, path string) (field, last string, value any, found bool) {
	var cur any = raw
	for path != "" {
		switch path[0] {
		case '.':
			path = path[1:]
			m, _ := cur.(map[string]any)
			// The longest key present in the map that the path starts with.
			key := ""
			for k := range m {
				if strings.HasPrefix(path, k) && len(k) > len(key) && (len(path) == len(k) || path[len(k)] == '.' || path[len(k)] == '[') {
					key = k
				}
			}
			if key == "" {
				end := strings.IndexAny(path, ".[")
				if end < 0 {
					end = len(path)
				}
				key = path[:end]
			}
			field, last = manifest.Field(field, key), key
			path = path[len(key):]
			cur = m[key]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return field, last, nil, false
			}
			sel := path[1:end]
			path = path[end+1:]
			list, _ := cur.([]any)
			i := listIndex(list, sel)
			if i < 0 {
				return field, last, nil, false
			}
			field += "[" + strconv.Itoa(i) + "]"
			cur = list[i]
		default:
			return field, last, nil, false
		}
	}
	return field, last, cur, true
}

// listIndex finds the item a selector names: "3", `name="a"`, `name="a",protocol="TCP"`,
// `="value"` (an item of a set).
func listIndex(list []any, sel string) int {
	if i, err := strconv.Atoi(sel); err == nil {
		return i
	}
	if v, ok := strings.CutPrefix(sel, "="); ok {
		for i, item := range list {
			if jsonEqual(item, v) {
				return i
			}
		}
		return -1
	}
	conds := strings.Split(sel, ",")
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		all := true
		for _, c := range conds {
			k, v, _ := strings.Cut(c, "=")
			if !jsonEqual(m[k], v) {
				all = false
				break
			}
		}
		if all {
			return i
		}
	}
	return -1
}

func jsonEqual(v any, written string) bool {
	b, err := json.Marshal(v)
	return err == nil && string(b) == written
}

// closest is the candidate nearest to s by edit distance, when it is near enough to be a
// typo ("Deploymnet" → "Deployment").
func closest(s string, candidates []string) string {
	best, bestD := "", len(s)/3+1
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
