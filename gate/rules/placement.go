package rules

// Node placement (practice 002-4): when the policy reserves trusted node pools for
// sensitive namespaces (rules.settings.trustedNodePools), the workloads of those
// namespaces must be scheduled onto the pool — a nodeSelector or a required node affinity
// on the pool's labels — and tolerate only the pool's taints, so that they can neither
// land on other nodes nor be steered onto nodes reserved for something else.

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/policy"
	corev1 "k8s.io/api/core/v1"
)

var trustedNodePool = &Rule{
	ID: "trusted-node-pool", Title: "Sensitive workload not pinned to its trusted node pool", Severity: High,
	Practices: []string{"002-4"},
	Refs:      []string{"https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/", "https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/"},
	Fix:       "Select the pool's node labels with spec.nodeSelector (or a required node affinity) and tolerate only the pool's taints.",
	Doc: "For each pool in rules.settings.trustedNodePools, every workload of the pool's namespaces " +
		"must require all the pool's nodeLabels (nodeSelector, or requiredDuringScheduling node " +
		"affinity in every term) and every toleration must match one of the pool's taints. " +
		"Tolerations of the node.kubernetes.io/* condition taints are allowed. Without pools in " +
		"the policy the rule checks nothing.",
}

func checkTrustedNodePools(s *model.Set) []Finding {
	var out []Finding
	for _, pool := range s.Policy.Rules.Settings.TrustedNodePools {
		for _, p := range s.Pods {
			ns := s.NamespaceOf(p.Object)
			if !matchesGlob(pool.Namespaces, ns) {
				continue
			}
			if !selectsPool(p.Spec, pool.NodeLabels) {
				out = append(out, trustedNodePool.At(p.Object, p.Template.Path+".nodeSelector", "",
					fmt.Sprintf("pod in namespace %q does not require the nodes of trusted pool %q (%s)", ns, pool.Name, labelsText(pool.NodeLabels))))
			}
			for i, t := range p.Spec.Tolerations {
				if strings.HasPrefix(t.Key, "node.kubernetes.io/") || slices.ContainsFunc(pool.Taints, func(taint policy.Taint) bool { return tolerates(t, taint) }) {
					continue
				}
				out = append(out, trustedNodePool.At(p.Object, fmt.Sprintf("%s.tolerations[%d]", p.Template.Path, i), "",
					fmt.Sprintf("pod in namespace %q tolerates %s, which is not a taint of trusted pool %q", ns, tolerationText(t), pool.Name)))
			}
		}
	}
	return out
}

// selectsPool says whether the pod can run only on nodes with every label of the pool.
func selectsPool(spec *corev1.PodSpec, want map[string]string) bool {
	if len(want) == 0 {
		return true
	}
	bySelector := true
	for k, v := range want {
		if spec.NodeSelector[k] != v {
			bySelector = false
		}
	}
	if bySelector {
		return true
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return false
	}
	// Terms are ORed: each must pin every label.
	for _, term := range terms {
		for k, v := range want {
			if !slices.ContainsFunc(term.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
				return r.Key == k && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 && r.Values[0] == v
			}) {
				return false
			}
		}
	}
	return true
}

// tolerates says whether toleration t matches taint (as the scheduler would, effects
// included); an empty taint value matches any value.
func tolerates(t corev1.Toleration, taint policy.Taint) bool {
	if t.Key != taint.Key || (t.Effect != "" && string(t.Effect) != taint.Effect) {
		return false
	}
	return t.Operator == corev1.TolerationOpExists || taint.Value == "" || t.Value == taint.Value
}

func tolerationText(t corev1.Toleration) string {
	if t.Key == "" && t.Operator == corev1.TolerationOpExists {
		return "every taint"
	}
	s := t.Key
	if t.Operator != corev1.TolerationOpExists && t.Value != "" {
		s += "=" + t.Value
	}
	if t.Effect != "" {
		s += ":" + string(t.Effect)
	}
	return "taint " + s
}

func labelsText(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}
