package rules

// NetworkPolicy (practice 000-4): every namespace with workloads isolates its pods in both
// directions with a policy selecting all of them (podSelector: {}), and the allow rules
// that follow are selective. NetworkPolicies are allow-lists that add up: once one policy
// selects a pod for a direction, only what some policy allows gets through, so "default
// deny" means a policy with an empty podSelector for Ingress and one for Egress.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
)

const networkPolicyDocs = "https://kubernetes.io/docs/concepts/services-networking/network-policies/"

var (
	defaultDeny = &Rule{
		ID: "network-policy-default-deny", Title: "Namespace without a default-deny NetworkPolicy", Severity: Medium,
		Practices: []string{"000-4", "002-4"},
		Refs:      []string{"CIS 5.3.2", networkPolicyDocs + "#default-policies"},
		Fix:       "Add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress, Egress] to the namespace, then allow the flows the pods need.",
		Doc: "Every namespace that has workloads in the rendered set needs a NetworkPolicy selecting " +
			"all its pods (podSelector: {}) for Ingress and for Egress; without one, any pod of the " +
			"cluster can reach them and they can reach anything. Reported on the Namespace object " +
			"when it is in the set, else on the namespace's first workload. Namespaces whose " +
			"policies live elsewhere are listed in rules.settings.networkPoliciesElsewhere.",
	}
	allowAll = &Rule{
		ID: "network-policy-allow-all", Title: "NetworkPolicy rule allows every peer", Severity: Medium,
		Practices: []string{"000-4"},
		Refs:      []string{networkPolicyDocs},
		Fix:       "Select the peers by label (podSelector, and namespaceSelector for other namespaces) or by a narrow ipBlock.",
		Doc: "An ingress or egress rule without peers, with an empty peer, with namespaceSelector: {} " +
			"and no podSelector (every pod of every namespace), or with an ipBlock of 0.0.0.0/0 or ::/0 " +
			"allows everything in that direction, whatever its ports, and undoes a default deny. An " +
			"ingress rule open only on the port of an admission webhook configured in the set (its " +
			"Service selects the policy's pods) is the usual pattern, since the API server matches no " +
			"pod or namespace selector: it is reported at low severity, with an ipBlock for the control " +
			"plane as the fix.",
	}
)

var podNotSelected = &Rule{
	ID: "network-policy-pod-not-selected", Title: "Pods no NetworkPolicy selects", Severity: Medium,
	Practices: []string{"000-4"},
	Refs:      []string{networkPolicyDocs + "#isolated-and-non-isolated-pods"},
	Fix:       "Select these pods with a NetworkPolicy for the direction named (or add a default deny with podSelector: {}).",
	Doc: "In a namespace whose NetworkPolicies select some pods for a direction but none selects all " +
		"of them, the pods of a workload that no policy selects for Ingress (or Egress) are not " +
		"isolated: they accept (or make) any connection, whatever the other policies say. Namespaces " +
		"with no policy for a direction are network-policy-default-deny's.",
}

// checkPodNotSelected names the workloads left out by the policies of their namespace.
func checkPodNotSelected(s *model.Set) []Finding {
	type nsPolicies struct {
		ingress, egress         []labels.Selector
		denyIngress, denyEgress bool
	}
	byNS := map[string]*nsPolicies{}
	for _, np := range s.NetworkPolicies {
		ns := s.NamespaceOf(np.Object)
		if byNS[ns] == nil {
			byNS[ns] = &nsPolicies{}
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.V.Spec.PodSelector)
		if err != nil {
			continue
		}
		in, eg := policyTypes(np.V)
		empty := emptySelector(&np.V.Spec.PodSelector)
		if in {
			byNS[ns].ingress, byNS[ns].denyIngress = append(byNS[ns].ingress, sel), byNS[ns].denyIngress || empty
		}
		if eg {
			byNS[ns].egress, byNS[ns].denyEgress = append(byNS[ns].egress, sel), byNS[ns].denyEgress || empty
		}
	}
	var out []Finding
	for _, p := range s.Pods {
		ns := s.NamespaceOf(p.Object)
		pols := byNS[ns]
		if pols == nil || matchesGlob(s.Policy.Rules.Settings.NetworkPoliciesElsewhere, ns) {
			continue
		}
		podLabels := labels.Set(p.Meta.Labels)
		selected := func(sels []labels.Selector) bool {
			return slices.ContainsFunc(sels, func(sel labels.Selector) bool { return sel.Matches(podLabels) })
		}
		var open []string
		if len(pols.ingress) > 0 && !pols.denyIngress && !selected(pols.ingress) {
			open = append(open, "Ingress (they accept connections from anywhere)")
		}
		if len(pols.egress) > 0 && !pols.denyEgress && !selected(pols.egress) {
			open = append(open, "Egress (they can connect anywhere)")
		}
		if len(open) > 0 {
			out = append(out, podNotSelected.At(p.Object, p.Template.MetaPath()+".labels", "",
				fmt.Sprintf("no NetworkPolicy of namespace %q selects these pods (labels %s) for %s", ns, podLabels, strings.Join(open, " or "))))
		}
	}
	return out
}

// policyTypes returns the directions a policy isolates, with the API server's default:
// Ingress always, Egress when the policy has egress rules.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		ingress = ingress || t == networkingv1.PolicyTypeIngress
		egress = egress || t == networkingv1.PolicyTypeEgress
	}
	return ingress, egress
}

func checkDefaultDeny(s *model.Set) []Finding {
	type coverage struct{ ingress, egress bool }
	covered := map[string]*coverage{}
	for _, np := range s.NetworkPolicies {
		if !emptySelector(&np.V.Spec.PodSelector) {
			continue
		}
		ns := s.NamespaceOf(np.Object)
		c := covered[ns]
		if c == nil {
			c = &coverage{}
			covered[ns] = c
		}
		in, eg := policyTypes(np.V)
		c.ingress, c.egress = c.ingress || in, c.egress || eg
	}
	namespaceObj := map[string]model.Typed[corev1.Namespace]{}
	for _, ns := range s.Namespaces {
		namespaceObj[ns.Object.Name] = ns
	}
	var out []Finding
	seen := map[string]bool{}
	for _, p := range s.Pods {
		ns := s.NamespaceOf(p.Object)
		if seen[ns] || matchesGlob(s.Policy.Rules.Settings.NetworkPoliciesElsewhere, ns) {
			continue
		}
		seen[ns] = true
		c := covered[ns]
		if c == nil {
			c = &coverage{}
		}
		var missing []string
		if !c.ingress {
			missing = append(missing, "Ingress")
		}
		if !c.egress {
			missing = append(missing, "Egress")
		}
		if len(missing) == 0 {
			continue
		}
		what := fmt.Sprintf("has no NetworkPolicy with podSelector: {} for %s", strings.Join(missing, " and "))
		if n, ok := namespaceObj[ns]; ok {
			out = append(out, defaultDeny.At(n.Object, "metadata.name", "", fmt.Sprintf("namespace %q %s", ns, what)))
		} else if ns == "" {
			out = append(out, defaultDeny.At(p.Object, "metadata", "", "the namespace this workload is applied to (none set) "+what))
		} else {
			out = append(out, defaultDeny.At(p.Object, "metadata.namespace", "", fmt.Sprintf("namespace %q %s", ns, what)))
		}
	}
	return out
}

func checkAllowAll(s *model.Set) []Finding {
	hooks := webhookPorts(s)
	var out []Finding
	for _, np := range s.NetworkPolicies {
		for i, r := range np.V.Spec.Ingress {
			fs := openPeers(np, fmt.Sprintf("spec.ingress[%d]", i), "from", "source", r.From, r.Ports)
			hook, port, all := servedWebhook(s, hooks, np, r.Ports)
			for j := range fs {
				switch {
				case hook == "":
				case all:
					fs[j].Severity = Low
					fs[j].Message += fmt.Sprintf("; %s serves admission webhook %s, which the API server calls from addresses no pod or namespace selector matches: allow only the control plane with an ipBlock", port, hook)
				default:
					fs[j].Message += fmt.Sprintf("; %s serves admission webhook %s (allow the control plane with an ipBlock), but the rule's other ports are open to everyone too", port, hook)
				}
			}
			out = append(out, fs...)
		}
		for i, r := range np.V.Spec.Egress {
			out = append(out, openPeers(np, fmt.Sprintf("spec.egress[%d]", i), "to", "destination", r.To, r.Ports)...)
		}
	}
	return out
}

// webhookPort is the port of the pods behind an admission webhook configured in the set.
type webhookPort struct {
	namespace string
	selector  map[string]string // the webhook Service's selector
	port      intstr.IntOrString
	name      string // "ValidatingWebhookConfiguration x (webhook y)"
}

// webhookPorts lists the pod ports that serve the admission webhooks configured in the set.
func webhookPorts(s *model.Set) []webhookPort {
	services := map[string]*corev1.Service{}
	for _, svc := range s.Services {
		services[s.NamespaceOf(svc.Object)+"/"+svc.Object.Name] = svc.V
	}
	var out []webhookPort
	for _, o := range s.Objects {
		if manifest.Group(o.APIVersion) != "admissionregistration.k8s.io" ||
			o.Kind != "ValidatingWebhookConfiguration" && o.Kind != "MutatingWebhookConfiguration" {
			continue
		}
		hooks, _ := o.Raw()["webhooks"].([]any)
		for _, h := range hooks {
			hm, _ := h.(map[string]any)
			ref, _ := manifest.Lookup(hm, "clientConfig", "service").(map[string]any)
			ns, _ := ref["namespace"].(string)
			name, _ := ref["name"].(string)
			port := int64(443)
			if p, ok := ref["port"].(int64); ok {
				port = p
			}
			svc := services[ns+"/"+name]
			if svc == nil || len(svc.Spec.Selector) == 0 {
				continue
			}
			for _, sp := range svc.Spec.Ports {
				if int64(sp.Port) != port {
					continue
				}
				target := sp.TargetPort
				if target.IntVal == 0 && target.StrVal == "" {
					target = intstr.FromInt32(sp.Port)
				}
				out = append(out, webhookPort{ns, svc.Spec.Selector, target, fmt.Sprintf("%q (%s %s)", hm["name"], o.Kind, o.Name)})
			}
		}
	}
	return out
}

// servedWebhook names the webhook a policy's ingress rule opens a port of, behind the pods
// the policy selects, and that port; all says every port of the rule serves a webhook (a
// rule without ports opens every port, so it never does).
func servedWebhook(s *model.Set, hooks []webhookPort, np model.Typed[networkingv1.NetworkPolicy], ports []networkingv1.NetworkPolicyPort) (name, port string, all bool) {
	sel, err := metav1.LabelSelectorAsSelector(&np.V.Spec.PodSelector)
	if err != nil || len(ports) == 0 {
		return "", "", false
	}
	all = true
	for _, p := range ports {
		served := false
		for _, h := range hooks {
			if h.namespace == s.NamespaceOf(np.Object) && sel.Matches(labels.Set(h.selector)) && p.Port != nil && p.Port.String() == h.port.String() {
				name, port, served = h.name, h.port.String(), true
			}
		}
		all = all && served
	}
	return name, port, all
}

// openPeers reports the peers of one rule that match everything.
func openPeers(np model.Typed[networkingv1.NetworkPolicy], field, dir, noun string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) []Finding {
	on := portsText(ports)
	if len(peers) == 0 {
		return []Finding{allowAll.At(np.Object, field, "",
			fmt.Sprintf("%s has no %s: it allows traffic %s any %s%s", field, dir, dir, noun, on))}
	}
	var out []Finding
	for j, p := range peers {
		f := fmt.Sprintf("%s.%s[%d]", field, dir, j)
		var why string
		switch {
		case p.PodSelector == nil && p.NamespaceSelector == nil && p.IPBlock == nil:
			why = "is an empty peer, which matches everything"
		case p.PodSelector == nil && p.NamespaceSelector != nil && emptySelector(p.NamespaceSelector):
			why = "has namespaceSelector: {} and no podSelector: it matches every pod of every namespace"
		case p.IPBlock != nil && isAnyAddress(p.IPBlock.CIDR):
			why = fmt.Sprintf("has ipBlock %s: it matches every address", p.IPBlock.CIDR)
		default:
			continue
		}
		out = append(out, allowAll.At(np.Object, f, "", fmt.Sprintf("%s %s%s", f, why, on)))
	}
	return out
}

func emptySelector(sel *metav1.LabelSelector) bool {
	return len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0
}

func isAnyAddress(cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.Bits() == 0
}

func portsText(ports []networkingv1.NetworkPolicyPort) string {
	if len(ports) == 0 {
		return ""
	}
	var ps []string
	for _, p := range ports {
		s := "any port"
		if p.Port != nil {
			s = p.Port.String()
		}
		if p.Protocol != nil {
			s += "/" + string(*p.Protocol)
		}
		ps = append(ps, s)
	}
	return " (on " + strings.Join(ps, ", ") + ")"
}
