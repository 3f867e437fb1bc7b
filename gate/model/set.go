// Package model is the rendered set as the checks read it: every object, the pod
// templates and the kinds set-level rules join decoded into their API types once, parsed
// image references, the RBAC index, the configured control-plane components and the schema
// verdicts, with the policy the set is checked under. It runs no rule.
package model

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	kjson "sigs.k8s.io/json"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/schema"
	"github.com/kubegate/kubegate/internal/parallel"
)

// Options are what the set is checked under.
type Options struct {
	// Policy is kubegate.yaml (profile, target version, rule settings, images); nil means
	// the default policy.
	Policy *policy.Policy
	// Namespace is where objects without metadata.namespace are deployed (-n), if known.
	Namespace string
	// Now is the day end-of-life dates are judged against; zero means now.
	Now time.Time
}

// Set is what rules see: every rendered object, and every pod template and every object
// a cluster-level rule reads already decoded into the API types once, so that each rule
// does not convert again.
type Set struct {
	Objects []*manifest.Object
	// Pods are the pod templates of the workloads. Control-plane static Pods (kubeadm's
	// kube-apiserver, kube-controller-manager, kube-scheduler and etcd in kube-system) are
	// StaticPods instead: they need the host's network and files, so the workload rules
	// (Pod Security Standards, placement, resources, …) do not judge them; the
	// control-plane rules and the image rules do.
	Pods       []*Pod
	StaticPods []*Pod
	Options
	// KubeMinor is the policy's target Kubernetes minor (1.<KubeMinor>); 0 means the
	// newest the gate knows (TargetMinor).
	KubeMinor int
	// Errors are objects the API server would reject as malformed.
	Errors []*manifest.Error

	Namespaces      []Typed[corev1.Namespace]
	ServiceAccounts []Typed[corev1.ServiceAccount]
	Services        []Typed[corev1.Service]
	LimitRanges     []Typed[corev1.LimitRange]
	Ingresses       []Typed[networkingv1.Ingress]
	NetworkPolicies []Typed[networkingv1.NetworkPolicy]
	// Roles holds Roles and ClusterRoles, Bindings RoleBindings and ClusterRoleBindings:
	// each pair has the same fields (a Role is a ClusterRole without aggregationRule).
	Roles    []Typed[rbacv1.ClusterRole]
	Bindings []Typed[rbacv1.ClusterRoleBinding]
	// The API server's own configuration files, when they are inputs.
	EncryptionConfigs []Typed[apiserverv1.EncryptionConfiguration]
	AuditPolicies     []Typed[auditv1.Policy]

	schemaState                     // validation against the API schema, shared by the schema rules
	rbacIndex   func() *RBACIndex   // built on first use, shared by the RBAC rules
	components  func() []*Component // built on first use, shared by the control-plane rules
	// staticComponents are what StaticPods run, read while sorting the pods.
	staticComponents []*Component
	derived          []*derived    // of Objects, by index
	crds             []*schema.CRD // the CustomResourceDefinitions among Objects
}

// RBAC is the index of roles and bindings the RBAC rules share.
func (s *Set) RBAC() *RBACIndex { return s.rbacIndex() }

// Components are the configured control-plane and node components the control-plane
// rules share.
func (s *Set) Components() []*Component { return s.components() }

// Typed is an object decoded into its API type.
type Typed[T any] struct {
	Object *manifest.Object
	V      *T
}

// NamespaceOf is where o is deployed: its own namespace, else the -n namespace, else "".
func (s *Set) NamespaceOf(o *manifest.Object) string {
	if o.Namespace != "" {
		return o.Namespace
	}
	return s.Namespace
}

// allPods are the workload pods and the control-plane static Pods.
func (s *Set) AllPods() []*Pod {
	return append(slices.Clip(s.Pods), s.StaticPods...)
}

// Windows says whether the pod runs on Windows nodes (spec.os.name: windows, or a
// HostProcess pod): Linux-only settings (read-only root filesystem, seccomp, capabilities,
// a Linux image user) do not apply, as the Pod Security Standards' own OS rules say.
func (p *Pod) Windows() bool {
	if p.Spec.OS != nil && p.Spec.OS.Name == corev1.Windows {
		return true
	}
	if sc := p.Spec.SecurityContext; sc != nil && sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
		return true
	}
	return false
}

// Pod is the pod template of one workload object.
type Pod struct {
	Object   *manifest.Object
	Template manifest.PodTemplate
	Meta     *metav1.ObjectMeta
	Spec     *corev1.PodSpec
	// Containers are Spec's init, regular and ephemeral containers, with their images
	// parsed once for every image rule.
	Containers []PodContainer
}

// NewSet extracts and decodes the pod templates of objs.
func NewSet(objs []*manifest.Object, opts Options) *Set {
	if opts.Policy == nil {
		opts.Policy = policy.Default()
	}
	s := &Set{Objects: objs, Options: opts, KubeMinor: opts.Policy.KubeMinor()}
	// Converting is reflection-heavy: on every core, for the objects not settled already.
	ds := make([]*derived, len(objs))
	parallel.For(len(objs), func(i int) { ds[i] = derive(objs[i]) })
	var podErrs []error
	var typed []*manifest.Object
	var values []any
	var typedErrs []error
	for i, d := range ds {
		switch {
		case d.pod != nil:
			s.Pods, podErrs = append(s.Pods, d.pod), append(podErrs, d.podErr)
		case d.typed != nil:
			typed, values, typedErrs = append(typed, objs[i]), append(values, d.typed), append(typedErrs, d.typedErr)
		}
		if d.crd != nil {
			s.crds = append(s.crds, d.crd)
		}
	}
	s.derived = ds
	schema.DropUnusedText(s.crds, objs)
	kept := s.Pods[:0]
	for i, p := range s.Pods {
		switch {
		case podErrs[i] != nil:
			s.Errors = append(s.Errors, s.decodeError(p.Object, p.Template.Path, "pod template is not a valid PodSpec", podErrs[i]))
		default:
			if c := staticPodComponent(s, p); c != nil {
				s.StaticPods, s.staticComponents = append(s.StaticPods, p), append(s.staticComponents, c)
			} else {
				kept = append(kept, p)
			}
		}
	}
	s.Pods = kept
	for i, o := range typed {
		if typedErrs[i] != nil {
			s.Errors = append(s.Errors, s.decodeError(o, "", "not a valid "+o.Kind, typedErrs[i]))
			continue
		}
		k, _ := typedKindOf(o)
		k.add(s, o, values[i])
	}
	s.rbacIndex = sync.OnceValue(func() *RBACIndex { return newRBACIndex(s) })
	s.components = sync.OnceValue(s.findComponents)
	return s
}

// typedKind makes and files the API value of one kind that cluster-level rules read.
type typedKind struct {
	new func() any
	add func(s *Set, o *manifest.Object, v any)
}

func kind[T any](list func(*Set) *[]Typed[T]) typedKind {
	return typedKind{
		new: func() any { return new(T) },
		add: func(s *Set, o *manifest.Object, v any) { l := list(s); *l = append(*l, Typed[T]{o, v.(*T)}) },
	}
}

// typedKinds maps group/kind to its API type. Kinds are matched by group, not version: the
// fields rules read are the same in every served version. A Role decodes into a
// ClusterRole and a RoleBinding into a ClusterRoleBinding: each pair has the same fields.
var typedKinds = sync.OnceValue(func() map[string]typedKind {
	ingress := kind(func(s *Set) *[]Typed[networkingv1.Ingress] { return &s.Ingresses })
	netpol := kind(func(s *Set) *[]Typed[networkingv1.NetworkPolicy] { return &s.NetworkPolicies })
	role := kind(func(s *Set) *[]Typed[rbacv1.ClusterRole] { return &s.Roles })
	binding := kind(func(s *Set) *[]Typed[rbacv1.ClusterRoleBinding] { return &s.Bindings })
	return map[string]typedKind{
		"/Namespace":                kind(func(s *Set) *[]Typed[corev1.Namespace] { return &s.Namespaces }),
		"/ServiceAccount":           kind(func(s *Set) *[]Typed[corev1.ServiceAccount] { return &s.ServiceAccounts }),
		"/Service":                  kind(func(s *Set) *[]Typed[corev1.Service] { return &s.Services }),
		"/LimitRange":               kind(func(s *Set) *[]Typed[corev1.LimitRange] { return &s.LimitRanges }),
		"networking.k8s.io/Ingress": ingress, "extensions/Ingress": ingress,
		"networking.k8s.io/NetworkPolicy": netpol, "extensions/NetworkPolicy": netpol,
		"rbac.authorization.k8s.io/Role": role, "rbac.authorization.k8s.io/ClusterRole": role,
		"rbac.authorization.k8s.io/RoleBinding": binding, "rbac.authorization.k8s.io/ClusterRoleBinding": binding,
		"apiserver.config.k8s.io/EncryptionConfiguration": kind(func(s *Set) *[]Typed[apiserverv1.EncryptionConfiguration] { return &s.EncryptionConfigs }),
		"audit.k8s.io/Policy":                             kind(func(s *Set) *[]Typed[auditv1.Policy] { return &s.AuditPolicies }),
	}
})

func typedKindOf(o *manifest.Object) (typedKind, bool) {
	k, ok := typedKinds()[manifest.Group(o.APIVersion)+"/"+o.Kind]
	return k, ok
}

// fromUnstructured converts a decoded YAML map into an API type the way the API server
// reads a request body: JSON, field names matched case-sensitively (sigs.k8s.io/json).
// apimachinery's DefaultUnstructuredConverter would be the obvious tool, but its field
// cache is copy-on-write, one copy of the whole cache per field it meets for the first
// time: quadratic in the number of API fields, 25 ms of CPU per gate run on the corpus.
func fromUnstructured(m map[string]any, v any) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return kjson.UnmarshalCaseSensitivePreserveInts(data, v)
}

func (p *Pod) decode() error {
	p.Meta, p.Spec = &metav1.ObjectMeta{}, &corev1.PodSpec{}
	if p.Template.Meta != nil {
		if err := fromUnstructured(p.Template.Meta, p.Meta); err != nil {
			return err
		}
	}
	if err := fromUnstructured(p.Template.Spec, p.Spec); err != nil {
		return err
	}
	p.Containers = p.containers()
	// The API server defaults a volume without a source to emptyDir (SetDefaults_Volume in
	// k8s.io/kubernetes, not importable); PSS sees the defaulted pod, and so must we.
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].VolumeSource == (corev1.VolumeSource{}) {
			p.Spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	return nil
}

// PodContainer is one typed container of a pod, with its field path from the object's root.
type PodContainer struct {
	*corev1.Container
	Path      string // "spec.template.spec.containers[0]"
	Init      bool   // an init container
	Ephemeral bool   // an ephemeral (debug) container: no resources, ports or probes
	Ref       Image  // the parsed image reference
	RefErr    error  // the image reference does not parse
}

// containers lists the init, regular and ephemeral containers of the pod. Ephemeral
// containers have the same fields as containers (the API keeps them in sync), so they are
// converted to one type.
func (p *Pod) containers() []PodContainer {
	var out []PodContainer
	add := func(list string, i int, c *corev1.Container) {
		im, err := ParseImage(c.Image)
		out = append(out, PodContainer{Container: c, Path: fmt.Sprintf("%s.%s[%d]", p.Template.Path, list, i),
			Init: list == "initContainers", Ephemeral: list == "ephemeralContainers", Ref: im, RefErr: err})
	}
	for i := range p.Spec.InitContainers {
		add("initContainers", i, &p.Spec.InitContainers[i])
	}
	for i := range p.Spec.Containers {
		add("containers", i, &p.Spec.Containers[i])
	}
	for i := range p.Spec.EphemeralContainers {
		c := corev1.Container(p.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		add("ephemeralContainers", i, &c)
	}
	return out
}
