package model

import (
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/schema"
)

// derived is what the set reads of one object, derived from its tree once: the pod
// template or the API value decoded, the schema verdict (when the embedded schema was
// ready), what a CustomResourceDefinition defines.
type derived struct {
	pod      *Pod // a workload's pod template; nil for other kinds
	podErr   error
	typed    any // the API value of a kind the set-level rules join
	typedErr error
	verdict  *schema.Verdict // nil: the set's validator validates the object
	crd      *schema.CRD
}

// derive returns what Settle derived of o, or derives it now (objects that were not
// settled: a webhook's, a test's).
func derive(o *manifest.Object) *derived {
	if d, ok := o.Derived.(*derived); ok {
		return d
	}
	d := &derived{crd: schema.ReadCRD(o)}
	if t, ok := o.PodTemplate(); ok {
		d.pod = &Pod{Object: o, Template: t}
		d.podErr = d.pod.decode()
		// The rules read the typed template; the maps would keep the tree.
		d.pod.Template.Meta, d.pod.Template.Spec = nil, nil
	} else if k, ok := typedKindOf(o); ok {
		d.typed = k.new()
		d.typedErr = fromUnstructured(o.Raw(), d.typed)
	}
	return d
}

// Settle derives what the set reads of o as soon as it is rendered, and releases its
// tree, so that a large input does not keep every decoded tree to the end of the run.
// validateSchema says the schema rules are on: an object the embedded schema could not
// validate yet (a custom resource, whose definition may be any input) keeps its text, and
// the set's validator decodes it again. Kept whole: the kinds rules read as trees
// (treeKinds, the configuration files), and objects whose decoding failed (the input
// error reads the tree).
func Settle(o *manifest.Object, validateSchema bool) {
	if o.Derived != nil || o.Released() {
		return
	}
	d := derive(o)
	if validateSchema && !ConfigKind(o) {
		if v, ok := schema.ValidateBuiltin(o); ok {
			d.verdict = &v
		}
	}
	o.Derived = d
	validated := !validateSchema || d.verdict != nil
	switch {
	case ConfigKind(o) || treeKinds[manifest.Group(o.APIVersion)+"/"+o.Kind] || d.podErr != nil || d.typedErr != nil:
		o.KeepText(false)
	case validated && d.crd == nil:
		o.Release(false)
	case o.HasText():
		// Decoded again when validated, or when a custom resource of the kind a
		// definition defines is.
		o.Release(true)
	default: // one item of a List: no text of its own
		o.KeepText(false)
	}
}

// treeKinds are the kinds rules read as trees (group/kind): literal Secret data, the
// values of a ConfigMap, the webhooks of a webhook configuration. Reading the tree of a
// released object panics, so a rule reading another kind fails its tests rather than
// passing what it should fail.
var treeKinds = map[string]bool{
	"/Secret": true, "/ConfigMap": true,
	"admissionregistration.k8s.io/ValidatingWebhookConfiguration": true,
	"admissionregistration.k8s.io/MutatingWebhookConfiguration":   true,
}
