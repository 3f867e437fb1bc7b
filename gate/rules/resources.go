package rules

// Resources (denial-of-service hardening, practice 002-4): every container states what it
// needs and the memory it may use, so that one workload cannot starve a node. Memory is
// incompressible and must be limited; CPU is shared by requests (CFS weights), so a
// missing CPU limit cannot take a node down and is not required — CPU limits throttle
// latency-sensitive workloads without protecting anything. A LimitRange of the namespace
// in the set that supplies defaults counts, and so do pod-level resources.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kubegate/kubegate/gate/model"
	corev1 "k8s.io/api/core/v1"
)

var containerResources = &Rule{
	ID: "container-resources", Title: "Container without resource requests or memory limit", Severity: Medium,
	Practices: []string{"002-4"},
	Refs:      []string{"CIS 5.7", "https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/"},
	Fix:       "Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on every container (or defaults in a LimitRange).",
	Doc: "Every init and regular container needs resources.requests.cpu, resources.requests.memory " +
		"and resources.limits.memory, unless a LimitRange of its namespace in the set gives container " +
		"defaults for them (defaultRequest, default) or the pod sets pod-level resources. Without " +
		"them the scheduler overcommits nodes and one container can exhaust a node's memory. With " +
		"rules.settings.requireEphemeralStorageLimit, resources.limits.ephemeral-storage too.",
}

// resourceNeed is one value the rule requires, and where a LimitRange may default it.
type resourceNeed struct {
	name     string // as shown: requests.cpu
	limit    bool
	resource corev1.ResourceName
}

var resourceNeeds = []resourceNeed{
	{"requests.cpu", false, corev1.ResourceCPU},
	{"requests.memory", false, corev1.ResourceMemory},
	{"limits.memory", true, corev1.ResourceMemory},
}

func checkContainerResources(s *model.Set) []Finding {
	defaults := limitRangeDefaults(s)
	needs := resourceNeeds
	if s.Policy.Rules.Settings.RequireEphemeralStorageLimit {
		needs = append(slices.Clip(needs), resourceNeed{"limits.ephemeral-storage", true, corev1.ResourceEphemeralStorage})
	}
	var out []Finding
	for _, p := range s.Pods {
		ns := s.NamespaceOf(p.Object)
		for _, c := range p.Containers {
			if c.Ephemeral {
				continue // ephemeral containers cannot set resources
			}
			var missing []string
			for _, need := range needs {
				if !has(c.Resources, need) && !has(defaults[ns], need) && (p.Spec.Resources == nil || !has(*p.Spec.Resources, need)) {
					missing = append(missing, need.name)
				}
			}
			if len(missing) > 0 {
				out = append(out, containerResources.At(p.Object, c.Path+".resources", c.Name,
					fmt.Sprintf("container %q sets no resources.%s", c.Name, strings.Join(missing, ", resources."))))
			}
		}
	}
	return out
}

func has(r corev1.ResourceRequirements, need resourceNeed) bool {
	list := r.Requests
	if need.limit {
		list = r.Limits
	}
	_, ok := list[need.resource]
	if !ok && !need.limit {
		// The API server defaults a missing request to the limit.
		_, ok = r.Limits[need.resource]
	}
	return ok
}

// limitRangeDefaults collects, per namespace, the container defaults LimitRanges give.
func limitRangeDefaults(s *model.Set) map[string]corev1.ResourceRequirements {
	out := map[string]corev1.ResourceRequirements{}
	for _, lr := range s.LimitRanges {
		ns := s.NamespaceOf(lr.Object)
		d := out[ns]
		for _, item := range lr.V.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			d.Requests = merge(d.Requests, item.DefaultRequest)
			d.Limits = merge(d.Limits, item.Default)
		}
		out[ns] = d
	}
	return out
}

func merge(dst, src corev1.ResourceList) corev1.ResourceList {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = corev1.ResourceList{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}
