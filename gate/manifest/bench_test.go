package manifest

import (
	"os"
	"testing"
)

// BenchmarkDecodeCorpus decodes the real-chart benchmark corpus (shared/corpus), when it
// is next to the repository.
func BenchmarkDecodeCorpus(b *testing.B) {
	data, err := os.ReadFile("../../../shared/corpus/charts-1388.yaml")
	if err != nil {
		b.Skip("corpus not found:", err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		Decode(data, Source{File: "corpus.yaml"})
	}
}
