package shellwords

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	for in, want := range map[string][]string{
		`exec kube-apiserver --profiling='false' \` + "\n  --authorization-mode=Node,RBAC": {"exec", "kube-apiserver", "--profiling=false", "--authorization-mode=Node,RBAC"},
		`"KUBELET_EXTRA_ARGS=--a=1 --b" "B=z"`:                                             {"KUBELET_EXTRA_ARGS=--a=1 --b", "B=z"},
		`KUBELET_KUBEADM_ARGS="--x --y"`:                                                   {"KUBELET_KUBEADM_ARGS=--x --y"},
		`A='' b`:                                                                           {"A=", "b"},
		"":                                                                                 nil,
		`""`:                                                                               {""},
	} {
		if got := Split(in); !slices.Equal(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
}
