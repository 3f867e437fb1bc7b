package rules

// API versions (practice 000-1): manifests use API versions the target Kubernetes serves,
// so that upgrading the cluster to the latest stable release is not blocked by them and
// they do not silently stop applying. The table is package apiversions'.

import (
	"fmt"

	"github.com/kubegate/kubegate/gate/apiversions"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
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

// eachLifecycle calls f for every object whose apiVersion and kind have a lifecycle.
func eachLifecycle(s *model.Set, f func(o *manifest.Object, l apiversions.Lifecycle)) {
	for _, o := range s.Objects {
		if l, ok := apiversions.Of(o.APIVersion, o.Kind); ok {
			f(o, l)
		}
	}
}

func checkRemovedAPIs(s *model.Set) []Finding {
	target := s.TargetMinor()
	var out []Finding
	eachLifecycle(s, func(o *manifest.Object, l apiversions.Lifecycle) {
		if l.Removed > 0 && target >= l.Removed {
			out = append(out, apiRemoved.At(o, "apiVersion", "",
				fmt.Sprintf("%s %s is not served by Kubernetes 1.%d: removed in 1.%d%s", o.APIVersion, o.Kind, target, l.Removed, useInstead(l))))
		}
	})
	return out
}

func checkDeprecatedAPIs(s *model.Set) []Finding {
	target := s.TargetMinor()
	var out []Finding
	eachLifecycle(s, func(o *manifest.Object, l apiversions.Lifecycle) {
		if l.Deprecated == 0 || target < l.Deprecated || (l.Removed > 0 && target >= l.Removed) {
			return
		}
		when := "not scheduled for removal"
		if l.Removed > 0 {
			when = fmt.Sprintf("removed in 1.%d", l.Removed)
		}
		out = append(out, apiDeprecated.At(o, "apiVersion", "",
			fmt.Sprintf("%s %s is deprecated since 1.%d and %s%s", o.APIVersion, o.Kind, l.Deprecated, when, useInstead(l))))
	})
	return out
}

func useInstead(l apiversions.Lifecycle) string {
	if l.Replacement == "" {
		return ""
	}
	return " (use " + l.Replacement + ")"
}
