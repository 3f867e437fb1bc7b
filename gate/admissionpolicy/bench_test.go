package admissionpolicy

import (
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"

	"github.com/kubegate/kubegate/gate/policy"
)

// BenchmarkLoadGenerated: reading and compiling the 15 policies generate
// admission-policies writes, what a run with them pays before it evaluates anything.
func BenchmarkLoadGenerated(b *testing.B) {
	out, err := Generate(policy.Default(), admv1.Deny)
	if err != nil {
		b.Fatal(err)
	}
	objs := decode(string(out), "generated.yaml")
	for b.Loop() {
		if _, errs := Load(objs, ""); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
