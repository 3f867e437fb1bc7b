package gate

import (
	"os"
	"testing"

	"github.com/kubegate/kubegate/gate/manifest"
)

// BenchmarkCheckRealCorpus runs the rules and the policy over the 1,388 objects of 40 real
// charts (../shared/corpus), the input of the performance budget; decoding is excluded
// (BenchmarkDecodeCorpus measures it).
func BenchmarkCheckRealCorpus(b *testing.B) {
	data, err := os.ReadFile("../../shared/corpus/charts-1388.yaml")
	if err != nil {
		b.Skip("corpus not found:", err)
	}
	var objs []*manifest.Object
	for _, d := range manifest.Decode(data, manifest.Source{File: "charts-1388.yaml"}) {
		objs = append(objs, d.Objects...)
	}
	b.ReportAllocs()
	for b.Loop() {
		Check(objs, Options{})
	}
}
