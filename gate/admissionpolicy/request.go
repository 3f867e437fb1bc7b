package admissionpolicy

import (
	"fmt"
	"maps"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kubegate/kubegate/gate/manifest"
)

// apiIndex knows what discovery would tell the API server about the kinds of the set:
// each kind's resource (plural) and scope, from the CustomResourceDefinitions among the
// inputs, else from the built-in kinds' table, else guessed as kubectl does without a
// cluster (a namespaced kind, its plural by the English rules).
type apiIndex struct {
	crds map[kschema.GroupKind]crdNames
}

type crdNames struct {
	plural  string
	cluster bool
}

func newAPIIndex(objs []*manifest.Object) *apiIndex {
	x := &apiIndex{crds: map[kschema.GroupKind]crdNames{}}
	for _, o := range objs {
		if o.Kind != "CustomResourceDefinition" || manifest.Group(o.APIVersion) != "apiextensions.k8s.io" || o.Released() {
			continue
		}
		raw := o.Raw()
		g, _ := manifest.Lookup(raw, "spec", "group").(string)
		k, _ := manifest.Lookup(raw, "spec", "names", "kind").(string)
		plural, _ := manifest.Lookup(raw, "spec", "names", "plural").(string)
		scope, _ := manifest.Lookup(raw, "spec", "scope").(string)
		if k != "" && plural != "" {
			x.crds[kschema.GroupKind{Group: g, Kind: k}] = crdNames{plural, scope == "Cluster"}
		}
	}
	return x
}

func (x *apiIndex) resource(gvk kschema.GroupVersionKind) kschema.GroupVersionResource {
	if c, ok := x.crds[gvk.GroupKind()]; ok {
		return gvk.GroupVersion().WithResource(c.plural)
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural
}

func (x *apiIndex) clusterScoped(gk kschema.GroupKind) bool {
	if c, ok := x.crds[gk]; ok {
		return c.cluster
	}
	return clusterKinds[gk]
}

// clusterKinds are the built-in cluster-scoped kinds (kubectl api-resources
// --namespaced=false, Kubernetes 1.37).
var clusterKinds = func() map[kschema.GroupKind]bool {
	m := map[kschema.GroupKind]bool{}
	for _, gk := range []string{
		"Namespace", "Node", "PersistentVolume", "ComponentStatus",
		"ClusterRole.rbac.authorization.k8s.io", "ClusterRoleBinding.rbac.authorization.k8s.io",
		"StorageClass.storage.k8s.io", "CSIDriver.storage.k8s.io", "CSINode.storage.k8s.io",
		"VolumeAttachment.storage.k8s.io", "VolumeAttributesClass.storage.k8s.io",
		"CustomResourceDefinition.apiextensions.k8s.io", "APIService.apiregistration.k8s.io",
		"MutatingWebhookConfiguration.admissionregistration.k8s.io",
		"ValidatingWebhookConfiguration.admissionregistration.k8s.io",
		"ValidatingAdmissionPolicy.admissionregistration.k8s.io",
		"ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io",
		"MutatingAdmissionPolicy.admissionregistration.k8s.io",
		"MutatingAdmissionPolicyBinding.admissionregistration.k8s.io",
		"PriorityClass.scheduling.k8s.io", "RuntimeClass.node.k8s.io", "IngressClass.networking.k8s.io",
		"IPAddress.networking.k8s.io", "ServiceCIDR.networking.k8s.io",
		"CertificateSigningRequest.certificates.k8s.io", "ClusterTrustBundle.certificates.k8s.io",
		"FlowSchema.flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration.flowcontrol.apiserver.k8s.io",
		"DeviceClass.resource.k8s.io", "ResourceSlice.resource.k8s.io", "DeviceTaintRule.resource.k8s.io",
		"StorageVersionMigration.storagemigration.k8s.io", "StorageVersion.internal.apiserver.k8s.io",
		"TokenReview.authentication.k8s.io", "SelfSubjectReview.authentication.k8s.io",
		"SelfSubjectAccessReview.authorization.k8s.io", "SelfSubjectRulesReview.authorization.k8s.io",
		"SubjectAccessReview.authorization.k8s.io",
	} {
		m[kschema.ParseGroupKind(gk)] = true
	}
	return m
}()

// namespaces is the namespace lister the matcher reads: the Namespace objects among the
// inputs, and for any other namespace one that carries only the label the API server
// gives every namespace (kubernetes.io/metadata.name), since its labels are not known.
type namespaces struct {
	byName map[string]*corev1.Namespace
}

func newNamespaces(objs []*manifest.Object) *namespaces {
	n := &namespaces{byName: map[string]*corev1.Namespace{}}
	for _, o := range objs {
		if o.Kind != "Namespace" || o.APIVersion != "v1" || o.Released() {
			continue
		}
		var ns corev1.Namespace
		if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Raw(), &ns) == nil {
			n.byName[ns.Name] = withNameLabel(&ns)
		}
	}
	return n
}

// known says whether the namespace is among the inputs.
func (n *namespaces) known(name string) bool { _, ok := n.byName[name]; return ok }

func withNameLabel(ns *corev1.Namespace) *corev1.Namespace {
	ns.Labels = maps.Clone(ns.Labels)
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
	return ns
}

func (n *namespaces) List(sel labels.Selector) ([]*corev1.Namespace, error) {
	var out []*corev1.Namespace
	for _, ns := range n.byName {
		if sel.Matches(labels.Set(ns.Labels)) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// Get never says NotFound: the matcher would then ask the API server, which CI has not.
func (n *namespaces) Get(name string) (*corev1.Namespace, error) {
	if ns, ok := n.byName[name]; ok {
		return ns, nil
	}
	if name == "" {
		return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	ns := &corev1.Namespace{}
	ns.Name = name
	return withNameLabel(ns), nil
}

// request is one object as the API server sees its CREATE, with no old object, by
// ciUser: CI does not know who will apply it.
type request struct {
	obj       *manifest.Object
	gvk       kschema.GroupVersionKind
	attr      admission.Attributes
	versioned *admission.VersionedAttributes
	namespace string // "" for a cluster-scoped object
}

// ciUser is who applies the objects, as far as CI can say: an authenticated user (every
// request the API server admits has one), named kubegate, in no other group.
var ciUser = &user.DefaultInfo{Name: "kubegate", Groups: []string{user.AllAuthenticated}}

// defaultNamespace is where kubectl puts an object that names no namespace and is given
// no -n: its context's namespace, "default" unless configured.
const defaultNamespace = "default"

// namespaceOf is where a namespaced object is deployed: its own namespace, else the -n
// namespace, else kubectl's default.
func namespaceOf(o *manifest.Object, namespace string) string {
	switch {
	case o.Namespace != "":
		return o.Namespace
	case namespace != "":
		return namespace
	}
	return defaultNamespace
}

func newRequest(o *manifest.Object, api *apiIndex, namespace string) *request {
	gvk := gvkOf(o)
	r := &request{obj: o, gvk: gvk}
	if !api.clusterScoped(gvk.GroupKind()) {
		r.namespace = namespaceOf(o, namespace)
	}
	obj := &unstructured.Unstructured{Object: o.Raw()}
	r.attr = admission.NewAttributesRecord(obj, nil, gvk, r.namespace, o.Name, api.resource(gvk), "",
		admission.Create, nil, false, ciUser)
	r.versioned = &admission.VersionedAttributes{Attributes: r.attr, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(obj)}
	return r
}

// objectInterfaces are what the matcher converts with: nothing is registered, so an
// Equivalent matchPolicy matches only the object's own group and version (the API server
// would also match a resource's other served versions).
var objectInterfaces = admission.NewObjectInterfacesFromScheme(runtime.NewScheme())

// paramIndex finds the params a binding names among the inputs.
type paramIndex struct {
	objs      []*manifest.Object            // what Load read: params, definitions, namespaces
	byKind    map[string][]*manifest.Object // apiVersion + "/" + kind
	api       *apiIndex
	namespace string // -n
}

func newParamIndex(objs []*manifest.Object, namespace string) *paramIndex {
	x := &paramIndex{objs: objs, byKind: map[string][]*manifest.Object{}, api: newAPIIndex(objs), namespace: namespace}
	for _, o := range objs {
		k := o.APIVersion + "/" + o.Kind
		x.byKind[k] = append(x.byKind[k], o)
	}
	return x
}

// check reports, at the binding's line, a param the binding names that no input holds:
// CI cannot read the cluster's params, so a check without them would pass unseen.
func (x *paramIndex) check(c *compiled, b *binding) *manifest.Error {
	pk, ref := c.spec.ParamKind, b.Spec.ParamRef
	if pk == nil || ref == nil {
		return nil
	}
	gk := kschema.FromAPIVersionAndKind(pk.APIVersion, pk.Kind).GroupKind()
	switch {
	case ref.Name != "" && ref.Selector != nil:
		return errAt(b.obj, "spec.paramRef", "ValidatingAdmissionPolicyBinding %s: paramRef.name and paramRef.selector are mutually exclusive", b.Name)
	case ref.Name == "" && ref.Selector == nil:
		return errAt(b.obj, "spec.paramRef", "ValidatingAdmissionPolicyBinding %s: paramRef needs a name or a selector", b.Name)
	case ref.Namespace != "" && x.api.clusterScoped(gk):
		return errAt(b.obj, "spec.paramRef.namespace", "ValidatingAdmissionPolicyBinding %s: paramRef.namespace must not be set for the cluster-scoped %s", b.Name, pk.Kind)
	case ref.Name == "":
		return nil // a selector may select nothing: parameterNotFoundAction decides
	}
	for _, o := range x.byKind[pk.APIVersion+"/"+pk.Kind] {
		if o.Name == ref.Name && (ref.Namespace == "" || x.api.clusterScoped(gk) || namespaceOf(o, x.namespace) == ref.Namespace) {
			return nil
		}
	}
	where := ref.Name
	if ref.Namespace != "" {
		where = ref.Namespace + "/" + ref.Name
	}
	return errAt(b.obj, "spec.paramRef.name", "ValidatingAdmissionPolicyBinding %s: param %s %s (paramKind of policy %s) is not among the inputs; give it with --admission-policies, as CI cannot read the cluster's",
		b.Name, pk.Kind, where, c.name)
}

// collect finds the params of one request as the plugin's CollectParams does: none
// needed (nil), the named one, or those the selector selects; an error is a
// configuration error of the binding.
func (x *paramIndex) collect(c *compiled, b *binding, namespace string) ([]runtime.Object, error) {
	pk, ref := c.spec.ParamKind, b.Spec.ParamRef
	if pk == nil || ref == nil {
		return []runtime.Object{nil}, nil
	}
	gk := kschema.FromAPIVersionAndKind(pk.APIVersion, pk.Kind).GroupKind()
	ns := ""
	if !x.api.clusterScoped(gk) {
		ns = ref.Namespace
		if ns == "" {
			ns = namespace
		}
		if ns == "" {
			return nil, fmt.Errorf("cannot use namespaced paramRef in policy binding that matches cluster-scoped resources")
		}
	}
	var sel labels.Selector = labels.Everything()
	if ref.Selector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(ref.Selector); err != nil {
			return nil, err
		}
	}
	var params []runtime.Object
	for _, o := range x.byKind[pk.APIVersion+"/"+pk.Kind] {
		if ns != "" && namespaceOf(o, x.namespace) != ns || ref.Name != "" && o.Name != ref.Name {
			continue
		}
		param := &unstructured.Unstructured{Object: o.Raw()}
		if ref.Name == "" && !sel.Matches(labels.Set(param.GetLabels())) {
			continue
		}
		params = append(params, param)
	}
	if len(params) == 0 && ref.ParameterNotFoundAction != nil && *ref.ParameterNotFoundAction == admv1.DenyAction {
		what := ref.Name
		if what == "" {
			what = "selected by " + sel.String()
		}
		return nil, fmt.Errorf("no params found for policy binding with `Deny` parameterNotFoundAction (%s %s in namespace %q is not among the inputs)", pk.Kind, what, ns)
	}
	return params, nil
}
