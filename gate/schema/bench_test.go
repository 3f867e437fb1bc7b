package schema

import (
	"os"
	"testing"

	"github.com/kubegate/kubegate/gate/manifest"
)

func corpusObjects(b *testing.B) []*manifest.Object {
	data, err := os.ReadFile("../../../shared/corpus/charts-1383-clean.yaml")
	if err != nil {
		b.Skip("shared corpus not here")
	}
	var objs []*manifest.Object
	for _, d := range manifest.Decode(data, manifest.Source{File: "c.yaml"}) {
		objs = append(objs, d.Objects...)
	}
	return objs
}

// BenchmarkLoad: decoding the embedded schema, once per process.
func BenchmarkLoad(b *testing.B) {
	for range b.N {
		loadBuiltinUncached()
	}
}

// BenchmarkValidateCorpus: every object of the shared corpus, one goroutine.
func BenchmarkValidateCorpus(b *testing.B) {
	objs := corpusObjects(b)
	v, err := NewValidator(CRDs(objs), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for _, o := range objs {
			v.Validate(o)
		}
	}
}
