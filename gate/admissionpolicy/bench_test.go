package admissionpolicy

import (
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/policy"
)

// BenchmarkLoadGenerated: reading and compiling the 15 policies generate
// admission-policies writes, what a run with them pays before it evaluates anything.
func BenchmarkLoadGenerated(b *testing.B) {
	out, err := Generate(policy.Default(), admv1.Deny)
	if err != nil {
		b.Fatal(err)
	}
	var objs []*manifest.Object
	for _, d := range manifest.Decode(out, manifest.Source{File: "generated.yaml"}) {
		objs = append(objs, d.Objects...)
	}
	for b.Loop() {
		if _, errs := Load(objs, ""); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
