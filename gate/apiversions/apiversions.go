// Package apiversions is what the gate knows about Kubernetes versions: which minor it
// describes, when each prerelease API version is deprecated and stops being served
// (generated from k8s.io/api's own lifecycle functions: go generate ./gate/apiversions),
// and how a version is written.
package apiversions

//go:generate go run ../../internal/apilifecycle/gen

import (
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/version"
)

// Lifecycle is when Kubernetes 1.x deprecates and stops serving a kind in a version.
type Lifecycle struct {
	APIVersion, Kind    string
	Deprecated, Removed int    // minors; 0 when not scheduled
	Replacement         string // "apps/v1", or "apps/v1 Deployment" when the kind changes
}

// gone are kinds whose packages k8s.io/api has deleted, from the deprecation guide.
var gone = []Lifecycle{
	{"extensions/v1beta1", "PodSecurityPolicy", 11, 16, podSecurityAdmission},
	{"policy/v1beta1", "PodSecurityPolicy", 21, 25, podSecurityAdmission},
	{"autoscaling/v2beta1", "HorizontalPodAutoscaler", 22, 25, "autoscaling/v2"},
	{"autoscaling/v2beta2", "HorizontalPodAutoscaler", 23, 26, "autoscaling/v2"},
	// Stable but deprecated since 1.33; not scheduled for removal.
	{"v1", "Endpoints", 33, 0, "discovery.k8s.io/v1 EndpointSlice"},
}

const podSecurityAdmission = "Pod Security Admission (label namespaces pod-security.kubernetes.io/enforce)"

var lifecycles = sync.OnceValue(func() map[[2]string]Lifecycle {
	m := make(map[[2]string]Lifecycle, len(generatedLifecycle)+len(gone))
	for _, l := range append(generatedLifecycle[:len(generatedLifecycle):len(generatedLifecycle)], gone...) {
		m[[2]string{l.APIVersion, l.Kind}] = l
	}
	return m
})

// Of returns the lifecycle of apiVersion/kind, when it is deprecated or removed.
func Of(apiVersion, kind string) (Lifecycle, bool) {
	l, ok := lifecycles()[[2]string{apiVersion, kind}]
	return l, ok
}

// RemovedIn says whether Kubernetes 1.<minor> no longer serves apiVersion/kind.
func RemovedIn(apiVersion, kind string, minor int) bool {
	l, ok := Of(apiVersion, kind)
	return ok && l.Removed > 0 && l.Removed <= minor
}

// ParseMinor reads the minor of "v1.30.2", "1.30", "stable-1.30" or "v1.30.2-eks-1", with
// apimachinery's version parser (the one kubectl and the API server use).
func ParseMinor(v string) (int, bool) {
	ver, err := version.ParseGeneric(strings.TrimPrefix(v, "stable-"))
	if err != nil || ver.Major() != 1 || len(ver.Components()) < 2 {
		return 0, false
	}
	return int(ver.Minor()), true
}
