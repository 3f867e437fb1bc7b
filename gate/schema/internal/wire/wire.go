// Package wire is the JSON form of a structured-merge-diff schema that gate/schema embeds.
// The schema types carry YAML tags only, with inlined and embedded pointer fields that
// encoding/json would flatten into each other (Map's and List's elementType), and parsing
// the YAML form costs ~0.1 s at start-up; this form mirrors the YAML one field for field
// and decodes in milliseconds.
package wire

import (
	"encoding/json"

	"sigs.k8s.io/structured-merge-diff/v6/schema"
)

type atom struct {
	Scalar *schema.Scalar `json:"scalar,omitempty"`
	List   *list          `json:"list,omitempty"`
	Map    *mapType       `json:"map,omitempty"`
}

type typeRef struct {
	NamedType           *string                     `json:"namedType,omitempty"`
	Inlined             *atom                       `json:"inlined,omitempty"`
	ElementRelationship *schema.ElementRelationship `json:"elementRelationship,omitempty"`
	Nullable            bool                        `json:"nullable,omitempty"`
}

type mapType struct {
	Fields              []structField              `json:"fields,omitempty"`
	Unions              []schema.Union             `json:"unions,omitempty"`
	ElementType         typeRef                    `json:"elementType"`
	ElementRelationship schema.ElementRelationship `json:"elementRelationship,omitempty"`
}

type structField struct {
	Name    string  `json:"name"`
	Type    typeRef `json:"type"`
	Default any     `json:"default,omitempty"`
}

type list struct {
	ElementType         typeRef                    `json:"elementType"`
	ElementRelationship schema.ElementRelationship `json:"elementRelationship,omitempty"`
	Keys                []string                   `json:"keys,omitempty"`
}

type typeDef struct {
	Name string `json:"name"`
	atom
}

// Schema is a whole schema in wire form.
type Schema struct {
	Types []typeDef `json:"types"`
}

func fromAtom(a schema.Atom) atom {
	var w atom
	w.Scalar = a.Scalar
	if a.List != nil {
		w.List = &list{fromRef(a.List.ElementType), a.List.ElementRelationship, a.List.Keys}
	}
	if a.Map != nil {
		m := &mapType{Unions: a.Map.Unions, ElementType: fromRef(a.Map.ElementType), ElementRelationship: a.Map.ElementRelationship}
		for _, f := range a.Map.Fields {
			m.Fields = append(m.Fields, structField{f.Name, fromRef(f.Type), f.Default})
		}
		w.Map = m
	}
	return w
}

func fromRef(r schema.TypeRef) typeRef {
	w := typeRef{NamedType: r.NamedType, ElementRelationship: r.ElementRelationship, Nullable: r.Nullable}
	if r.Inlined != (schema.Atom{}) {
		a := fromAtom(r.Inlined)
		w.Inlined = &a
	}
	return w
}

func (w atom) toAtom() schema.Atom {
	a := schema.Atom{Scalar: w.Scalar}
	if w.List != nil {
		a.List = &schema.List{ElementType: w.List.ElementType.toRef(), ElementRelationship: w.List.ElementRelationship, Keys: w.List.Keys}
	}
	if w.Map != nil {
		m := &schema.Map{Unions: w.Map.Unions, ElementType: w.Map.ElementType.toRef(), ElementRelationship: w.Map.ElementRelationship}
		m.Fields = make([]schema.StructField, len(w.Map.Fields))
		for i, f := range w.Map.Fields {
			m.Fields[i] = schema.StructField{Name: f.Name, Type: f.Type.toRef(), Default: f.Default}
		}
		a.Map = m
	}
	return a
}

func (w typeRef) toRef() schema.TypeRef {
	r := schema.TypeRef{NamedType: w.NamedType, ElementRelationship: w.ElementRelationship, Nullable: w.Nullable}
	if w.Inlined != nil {
		r.Inlined = w.Inlined.toAtom()
	}
	return r
}

// From converts a schema to wire form.
func From(s *schema.Schema) *Schema {
	w := &Schema{Types: make([]typeDef, len(s.Types))}
	for i, t := range s.Types {
		w.Types[i] = typeDef{t.Name, fromAtom(t.Atom)}
	}
	return w
}

// Decode reads a schema in wire form (JSON) into s.
func Decode(data json.RawMessage, s *schema.Schema) error {
	var w Schema
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	s.Types = make([]schema.TypeDef, len(w.Types))
	for i, t := range w.Types {
		s.Types[i] = schema.TypeDef{Name: t.Name, Atom: t.atom.toAtom()}
	}
	return nil
}
