package rules

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/internal/parallel"
)

// Profile is the Pod Security Standards level the gate enforces.
type Profile string

const (
	Baseline   Profile = "baseline"
	Restricted Profile = "restricted"
)

// Options are the settings rules read.
type Options struct {
	Profile Profile
	// KubeMinor is the target Kubernetes minor version (1.<KubeMinor>); 0 means the newest
	// the gate knows.
	KubeMinor int
}

// Set is what rules see: every rendered object, and every pod template already decoded
// into the API types once, so that each rule does not convert again.
type Set struct {
	Objects []*manifest.Object
	Pods    []*Pod
	Options
	// Errors are objects whose pod template the API server would reject as malformed.
	Errors []*manifest.Error
}

// Pod is the pod template of one workload object.
type Pod struct {
	Object   *manifest.Object
	Template manifest.PodTemplate
	Meta     *metav1.ObjectMeta
	Spec     *corev1.PodSpec
}

// NewSet extracts and decodes the pod templates of objs.
func NewSet(objs []*manifest.Object, opts Options) *Set {
	if opts.Profile == "" {
		opts.Profile = Restricted
	}
	s := &Set{Objects: objs, Options: opts}
	for _, o := range objs {
		if t, ok := o.PodTemplate(); ok {
			s.Pods = append(s.Pods, &Pod{Object: o, Template: t})
		}
	}
	errs := make([]error, len(s.Pods))
	parallel.For(len(s.Pods), func(i int) { errs[i] = s.Pods[i].decode() })
	kept := s.Pods[:0]
	for i, p := range s.Pods {
		if errs[i] != nil {
			src := p.Object.SourceOf(p.Template.Path)
			s.Errors = append(s.Errors, &manifest.Error{File: src.File, Line: src.Line,
				Msg: fmt.Sprintf("%s: pod template is not a valid PodSpec: %v", p.Object.Ref(), errs[i])})
			continue
		}
		kept = append(kept, p)
	}
	s.Pods = kept
	return s
}

func (p *Pod) decode() error {
	p.Meta, p.Spec = &metav1.ObjectMeta{}, &corev1.PodSpec{}
	conv := apiruntime.DefaultUnstructuredConverter
	if p.Template.Meta != nil {
		if err := conv.FromUnstructured(p.Template.Meta, p.Meta); err != nil {
			return err
		}
	}
	if err := conv.FromUnstructured(p.Template.Spec, p.Spec); err != nil {
		// The converter's message names only a Go type; JSON decoding names the field.
		data, _ := json.Marshal(p.Template.Spec)
		if jerr := json.Unmarshal(data, &corev1.PodSpec{}); jerr != nil {
			return jerr
		}
		return err
	}
	// The API server defaults a volume without a source to emptyDir (SetDefaults_Volume in
	// k8s.io/kubernetes, not importable); PSS sees the defaulted pod, and so must we.
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].VolumeSource == (corev1.VolumeSource{}) {
			p.Spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	return nil
}

// Containers lists every container of a pod spec map with its field path relative to the
// spec: init, regular and ephemeral containers.
func Containers(spec map[string]any) []Container {
	var out []Container
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		items, _ := spec[list].([]any)
		for i, it := range items {
			c, ok := it.(map[string]any)
			if !ok {
				continue
			}
			name, _ := c["name"].(string)
			out = append(out, Container{Name: name, Path: fmt.Sprintf("%s[%d]", list, i), Raw: c})
		}
	}
	return out
}

// Container is one container of a pod spec, as written.
type Container struct {
	Name string
	Path string // "containers[0]", relative to the pod spec
	Raw  map[string]any
}
