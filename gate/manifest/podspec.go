package manifest

import (
	"maps"
	"slices"
	"strings"
)

// podTemplatePaths says where each workload kind keeps its pod template: the path of the
// template's metadata parent ("" for a Pod, whose own metadata applies).
var podTemplatePaths = map[string][]string{
	"Pod":                   nil,
	"PodTemplate":           {"template"},
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// WorkloadKinds are the kinds that carry a pod template, sorted.
func WorkloadKinds() []string { return slices.Sorted(maps.Keys(podTemplatePaths)) }

// workloadGroups are the API groups whose kinds above are the built-in workloads (a CRD
// may reuse a kind name in its own group).
var workloadGroups = map[string]bool{"": true, "apps": true, "extensions": true, "batch": true}

// PodTemplate is the pod template of a workload.
type PodTemplate struct {
	Meta map[string]any // the template's metadata (the Pod's own for a Pod)
	Spec map[string]any
	// Path is the field path of Spec within the object: "spec" or "spec.template.spec".
	Path string
}

// MetaPath is the field path of the template's metadata: "metadata" for a Pod,
// "spec.template.metadata" for a Deployment.
func (t PodTemplate) MetaPath() string {
	if t.Path == "spec" {
		return "metadata"
	}
	return strings.TrimSuffix(t.Path, ".spec") + ".metadata"
}

// PodTemplate returns the pod template of a workload object.
func (o *Object) PodTemplate() (PodTemplate, bool) {
	keys, ok := podTemplatePaths[o.Kind]
	if !ok || !workloadGroups[Group(o.APIVersion)] {
		return PodTemplate{}, false
	}
	tmpl := o.Raw()
	if keys != nil {
		t, ok := Lookup(o.Raw(), keys...).(map[string]any)
		if !ok {
			return PodTemplate{}, false
		}
		tmpl = t
	}
	spec, ok := tmpl["spec"].(map[string]any)
	if !ok {
		return PodTemplate{}, false
	}
	meta, _ := tmpl["metadata"].(map[string]any)
	path := strings.Join(append(append([]string{}, keys...), "spec"), ".")
	return PodTemplate{Meta: meta, Spec: spec, Path: path}, true
}

// Group returns the API group of an apiVersion ("" for the core group).
func Group(apiVersion string) string {
	if i := strings.IndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}
