package rules

// API versions (practice 000-1): manifests use API versions the target Kubernetes serves,
// so that upgrading the cluster to the latest stable release is not blocked by them and
// they do not silently stop applying. The table is generated from k8s.io/api's own
// lifecycle functions (go generate), plus the kinds k8s.io/api no longer carries at all.

//go:generate go run ../../internal/apilifecycle/gen

import (
	"fmt"
	"sync"

	"github.com/kubegate/kubegate/gate/manifest"
)

const deprecationGuide = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"

var (
	apiRemoved = &Rule{
		ID: "api-removed", Title: "API version not served by the target Kubernetes", Severity: High,
		Practices: []string{"000-1", "000-2"},
		Refs:      []string{deprecationGuide},
		Fix:       "Change apiVersion (and the fields that changed with it) to the replacement the message names; kubectl convert helps.",
		Doc: "The apiVersion/kind is no longer served by the target Kubernetes version (--kube-version, " +
			"the policy's kubernetesVersion, or the newest the gate knows): the manifest cannot be " +
			"applied, and a cluster still running it cannot be upgraded. PodSecurityPolicy, removed in " +
			"1.25, is replaced by Pod Security Admission.",
	}
	apiDeprecated = &Rule{
		ID: "api-deprecated", Title: "Deprecated API version", Severity: Low,
		Practices: []string{"000-1"},
		Refs:      []string{deprecationGuide},
		Fix:       "Move to the replacement apiVersion the message names before the version that removes it.",
		Doc: "The apiVersion/kind is deprecated in the target Kubernetes version and will stop being " +
			"served in a later one.",
	}
)

// apiLifecycle is when Kubernetes 1.x deprecates and stops serving a kind in a version.
type apiLifecycle struct {
	apiVersion, kind    string
	deprecated, removed int    // minors; 0 when not scheduled
	replacement         string // "apps/v1", or "apps/v1 Deployment" when the kind changes
}

// gone are kinds whose packages k8s.io/api has deleted, from the deprecation guide.
var gone = []apiLifecycle{
	{"extensions/v1beta1", "PodSecurityPolicy", 11, 16, podSecurityAdmission},
	{"policy/v1beta1", "PodSecurityPolicy", 21, 25, podSecurityAdmission},
	{"autoscaling/v2beta1", "HorizontalPodAutoscaler", 22, 25, "autoscaling/v2"},
	{"autoscaling/v2beta2", "HorizontalPodAutoscaler", 23, 26, "autoscaling/v2"},
	// Stable but deprecated since 1.33; not scheduled for removal.
	{"v1", "Endpoints", 33, 0, "discovery.k8s.io/v1 EndpointSlice"},
}

const podSecurityAdmission = "Pod Security Admission (label namespaces pod-security.kubernetes.io/enforce)"

var lifecycles = sync.OnceValue(func() map[[2]string]apiLifecycle {
	m := make(map[[2]string]apiLifecycle, len(generatedLifecycle)+len(gone))
	for _, l := range append(generatedLifecycle[:len(generatedLifecycle):len(generatedLifecycle)], gone...) {
		m[[2]string{l.apiVersion, l.kind}] = l
	}
	return m
})

// NewestKnownMinor is the newest Kubernetes minor the gate's API tables describe.
func NewestKnownMinor() int { return newestKnownMinor }

func (s *Set) targetMinor() int {
	if s.KubeMinor > 0 {
		return s.KubeMinor
	}
	return newestKnownMinor
}

// eachLifecycle calls f for every object whose apiVersion and kind have a lifecycle.
func eachLifecycle(s *Set, f func(o *manifest.Object, l apiLifecycle)) {
	for _, o := range s.Objects {
		if l, ok := lifecycles()[[2]string{o.APIVersion, o.Kind}]; ok {
			f(o, l)
		}
	}
}

func checkRemovedAPIs(s *Set) []Finding {
	target := s.targetMinor()
	var out []Finding
	eachLifecycle(s, func(o *manifest.Object, l apiLifecycle) {
		if l.removed > 0 && target >= l.removed {
			out = append(out, apiRemoved.At(o, "apiVersion", "",
				fmt.Sprintf("%s %s is not served by Kubernetes 1.%d: removed in 1.%d%s", o.APIVersion, o.Kind, target, l.removed, useInstead(l))))
		}
	})
	return out
}

func checkDeprecatedAPIs(s *Set) []Finding {
	target := s.targetMinor()
	var out []Finding
	eachLifecycle(s, func(o *manifest.Object, l apiLifecycle) {
		if l.deprecated == 0 || target < l.deprecated || (l.removed > 0 && target >= l.removed) {
			return
		}
		when := "not scheduled for removal"
		if l.removed > 0 {
			when = fmt.Sprintf("removed in 1.%d", l.removed)
		}
		out = append(out, apiDeprecated.At(o, "apiVersion", "",
			fmt.Sprintf("%s %s is deprecated since 1.%d and %s%s", o.APIVersion, o.Kind, l.deprecated, when, useInstead(l))))
	})
	return out
}

func useInstead(l apiLifecycle) string {
	if l.replacement == "" {
		return ""
	}
	return " (use " + l.replacement + ")"
}
