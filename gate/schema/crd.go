package schema

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"k8s.io/kube-openapi/pkg/schemaconv"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"github.com/kubegate/kubegate/gate/manifest"
)

// crdSchemas are the schemas of the custom resources whose CustomResourceDefinitions are
// among the inputs, converted on first use the way the API server converts them for its
// field management (kube-openapi's schemaconv).
type crdSchemas struct {
	defs map[[3]string]*crdSchema // group, version, kind
}

type crdSchema struct {
	crd     *CRD
	version string
	once    sync.Once
	parser  *typed.Parser
	err     error
}

const crdTypeName = "crd"

// CRD is what a CustomResourceDefinition says of its custom resources: read from its
// tree while the tree is there, the versions' schemas read from it, or from its text
// again once the tree is released, when a custom resource of the kind is validated.
type CRD struct {
	Group, Kind string
	Versions    []string // the versions with a schema
	obj         *manifest.Object
}

// ReadCRD reads a CustomResourceDefinition (apiextensions.k8s.io/v1); nil for any other
// object.
func ReadCRD(o *manifest.Object) *CRD {
	if o.Kind != "CustomResourceDefinition" || o.APIVersion != "apiextensions.k8s.io/v1" {
		return nil
	}
	c := &CRD{obj: o}
	raw := o.Raw()
	c.Group, _ = manifest.Lookup(raw, "spec", "group").(string)
	c.Kind, _ = manifest.Lookup(raw, "spec", "names", "kind").(string)
	for name := range crdVersions(raw) {
		c.Versions = append(c.Versions, strings.Clone(name))
	}
	// Clones: substrings would keep the definition's text, which Release drops.
	c.Group, c.Kind = strings.Clone(c.Group), strings.Clone(c.Kind)
	return c
}

// CRDs reads the CustomResourceDefinitions among objs.
func CRDs(objs []*manifest.Object) []*CRD {
	var out []*CRD
	for _, o := range objs {
		if c := ReadCRD(o); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// crdVersions yields the name and openAPIV3Schema of each version with both.
func crdVersions(raw map[string]any) func(yield func(string, map[string]any) bool) {
	return func(yield func(string, map[string]any) bool) {
		versions, _ := manifest.Lookup(raw, "spec", "versions").([]any)
		for _, v := range versions {
			vm, _ := v.(map[string]any)
			name, _ := vm["name"].(string)
			s, _ := manifest.Lookup(vm, "schema", "openAPIV3Schema").(map[string]any)
			if name != "" && s != nil && !yield(name, s) {
				return
			}
		}
	}
}

// schema is the openAPIV3Schema of version.
func (c *CRD) schema(version string) (map[string]any, error) {
	raw, ok := c.obj.Redecode()
	if !ok {
		return nil, fmt.Errorf("%s: its text is gone", c.obj.Ref())
	}
	var found map[string]any
	for name, s := range crdVersions(raw) {
		if name == version {
			found = s // the last of a repeated version, as the definitions map keeps it
		}
	}
	return found, nil
}

// DropUnusedText drops the text kept by the released definitions that no object of objs
// is validated against (no custom resource of theirs is among objs, or a later definition
// of the same kind wins): a definition's text is the largest thing the checks keep.
func DropUnusedText(crds []*CRD, objs []*manifest.Object) {
	defs := newCRDSchemas(crds)
	used, validated := map[*CRD]bool{}, map[*manifest.Object]bool{}
	for _, o := range objs {
		group, version := splitGV(o.APIVersion)
		if s := defs.find(group, version, o.Kind); s != nil {
			used[s.crd], validated[o] = true, true
		}
	}
	for _, c := range crds {
		if !used[c] && !validated[c.obj] && c.obj.Released() {
			c.obj.KeepText(false)
		}
	}
}

func newCRDSchemas(crds []*CRD) *crdSchemas {
	c := &crdSchemas{defs: map[[3]string]*crdSchema{}}
	for _, crd := range crds {
		for _, name := range crd.Versions {
			c.defs[[3]string{crd.Group, name, crd.Kind}] = &crdSchema{crd: crd, version: name}
		}
	}
	return c
}

func (c *crdSchemas) find(group, version, kind string) *crdSchema {
	return c.defs[[3]string{group, version, kind}]
}

func (s *crdSchema) validate(raw map[string]any) []Problem {
	s.once.Do(func() {
		var raw map[string]any
		if raw, s.err = s.crd.schema(s.version); s.err == nil {
			s.parser, s.err = convertCRD(raw)
		}
	})
	if s.err != nil {
		return []Problem{{Kind: WrongType, Msg: "the CustomResourceDefinition's openAPIV3Schema cannot be read: " + s.err.Error()}}
	}
	problems := validate(s.parser, crdTypeName, raw)
	// metadata is the API server's ObjectMeta for every kind.
	if meta, ok := raw["metadata"].(map[string]any); ok {
		if b, err := loadBuiltin(); err == nil {
			for _, p := range validate(b.parser, objectMeta, meta) {
				p.Field = manifest.Field("metadata", p.Field)
				if p.Kind == WrongType {
					p.Msg = "metadata." + p.Msg
				}
				problems = append(problems, p)
			}
		}
	}
	return problems
}

const objectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

// convertCRD converts an openAPIV3Schema to a structured-merge-diff schema. apiVersion,
// kind and metadata are always allowed at the top, as the API server allows them.
func convertCRD(raw map[string]any) (*typed.Parser, error) {
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var root spec.Schema
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	if root.Properties != nil {
		for _, f := range []string{"apiVersion", "kind"} {
			if _, ok := root.Properties[f]; !ok {
				root.Properties[f] = *spec.StringProperty()
			}
		}
		root.Properties["metadata"] = spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
	}
	s, err := schemaconv.ToSchemaFromOpenAPI(map[string]*spec.Schema{crdTypeName: &root}, false)
	if err != nil {
		return nil, err
	}
	p := &typed.Parser{}
	p.Schema.Types = s.Types // the schema holds a sync.Once: not copied whole
	return p, nil
}
