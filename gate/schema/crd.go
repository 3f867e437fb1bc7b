package schema

import (
	"encoding/json"
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
	raw    map[string]any // openAPIV3Schema
	once   sync.Once
	parser *typed.Parser
	err    error
}

const crdTypeName = "crd"

func newCRDSchemas(objs []*manifest.Object) *crdSchemas {
	c := &crdSchemas{defs: map[[3]string]*crdSchema{}}
	for _, o := range objs {
		if o.Kind != "CustomResourceDefinition" || o.APIVersion != "apiextensions.k8s.io/v1" {
			continue
		}
		group, _ := manifest.Lookup(o.Raw, "spec", "group").(string)
		kind, _ := manifest.Lookup(o.Raw, "spec", "names", "kind").(string)
		versions, _ := manifest.Lookup(o.Raw, "spec", "versions").([]any)
		for _, v := range versions {
			vm, _ := v.(map[string]any)
			name, _ := vm["name"].(string)
			s, _ := manifest.Lookup(vm, "schema", "openAPIV3Schema").(map[string]any)
			if name != "" && s != nil {
				c.defs[[3]string{group, name, kind}] = &crdSchema{raw: s}
			}
		}
	}
	return c
}

func (c *crdSchemas) find(group, version, kind string) *crdSchema {
	return c.defs[[3]string{group, version, kind}]
}

func (s *crdSchema) validate(raw map[string]any) []Problem {
	s.once.Do(func() { s.parser, s.err = convertCRD(s.raw) })
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
