package rules

// Exposure (practice 002-3): nothing is reachable from outside the cluster by accident.
// Load balancers are limited to known source ranges or kept internal, node ports and
// external IPs are avoided, and Ingresses terminate TLS for every host they serve.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kubegate/kubegate/gate/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const servicesDocs = "https://kubernetes.io/docs/concepts/services-networking/service/"

var (
	openLoadBalancer = &Rule{
		ID: "service-load-balancer-open", Title: "LoadBalancer Service open to the internet", Severity: Medium,
		Practices: []string{"002-3"},
		Refs:      []string{servicesDocs + "#loadbalancer", "https://kubernetes.io/docs/tasks/access-application-cluster/create-external-load-balancer/#preserving-the-client-source-ip"},
		Fix:       "Set spec.loadBalancerSourceRanges to the networks that need access, or make the load balancer internal with your cloud's annotation.",
		Doc: "A Service of type LoadBalancer without spec.loadBalancerSourceRanges (or the " +
			"service.beta.kubernetes.io/load-balancer-source-ranges annotation), or with 0.0.0.0/0, " +
			"gets a public address reachable by anyone. Load balancers marked internal with the AWS, " +
			"Azure, GKE or OCI annotation are not reported.",
	}
	nodePort = &Rule{
		ID: "service-node-port", Title: "NodePort Service", Severity: Medium,
		Practices: []string{"002-3"},
		Refs:      []string{servicesDocs + "#type-nodeport"},
		Fix:       "Use a ClusterIP Service behind an Ingress or an internal load balancer.",
		Doc: "A NodePort Service opens the port on every node of the cluster, bypassing the " +
			"load balancer's source ranges and exposing nodes meant to be private.",
	}
	externalIPs = &Rule{
		ID: "service-external-ips", Title: "Service with externalIPs", Severity: High,
		Practices: []string{"002-3"},
		Refs:      []string{"CVE-2020-8554", servicesDocs + "#external-ips"},
		Fix:       "Remove spec.externalIPs; use a LoadBalancer or an Ingress (and block the field cluster-wide with the DenyServiceExternalIPs admission plugin).",
		Doc: "spec.externalIPs makes every node route traffic for those addresses to the Service; " +
			"whoever can create Services can intercept traffic to any IP (CVE-2020-8554).",
	}
	ingressTLS = &Rule{
		ID: "ingress-without-tls", Title: "Ingress serves a host without TLS", Severity: Medium,
		Practices: []string{"002-3"},
		Refs:      []string{"https://kubernetes.io/docs/concepts/services-networking/ingress/#tls"},
		Fix:       "Add a spec.tls entry covering every host of the Ingress rules (cert-manager can issue the certificate).",
		Doc: "An Ingress without spec.tls, or with rule hosts that no spec.tls entry lists (a " +
			"*.example.com entry covers one level of subdomain), serves those hosts over plain HTTP.",
	}
)

var serviceSelectsNothing = &Rule{
	ID: "service-selects-no-pod", Title: "Service whose selector matches no pod template", Severity: Low,
	Practices: []string{"002-3"},
	Refs:      []string{"https://kubernetes.io/docs/concepts/services-networking/service/#defining-a-service"},
	Fix:       "Make spec.selector match the labels of the pod template it should reach.",
	Doc: "A Service with a selector that no pod template of its namespace in the set carries reaches " +
		"nothing: a typo in a label, or a Service left behind (and exposed) after its workload went. " +
		"Pods created by an operator or another chart are not in the set: judged only in namespaces " +
		"where the set has workloads.",
}

func checkServiceSelectors(s *model.Set) []Finding {
	templates := map[string][]labels.Set{} // namespace → the labels of its pod templates
	for _, p := range s.AllPods() {
		ns := s.NamespaceOf(p.Object)
		templates[ns] = append(templates[ns], labels.Set(p.Meta.Labels))
	}
	var out []Finding
	for _, svc := range s.Services {
		sel := svc.V.Spec.Selector
		ns := s.NamespaceOf(svc.Object)
		if len(sel) == 0 || svc.V.Spec.Type == corev1.ServiceTypeExternalName || len(templates[ns]) == 0 {
			continue
		}
		selector := labels.SelectorFromSet(sel)
		if !slices.ContainsFunc(templates[ns], func(l labels.Set) bool { return selector.Matches(l) }) {
			out = append(out, serviceSelectsNothing.At(svc.Object, "spec.selector", "",
				fmt.Sprintf("Service %q selects %s, which no pod template of namespace %q carries", svc.Object.Name, labels.Set(sel), ns)))
		}
	}
	return out
}

// internalLBAnnotations mark a load balancer as private on the clouds that support it.
var internalLBAnnotations = map[string]string{
	"service.beta.kubernetes.io/aws-load-balancer-internal":   "",
	"service.beta.kubernetes.io/azure-load-balancer-internal": "true",
	"networking.gke.io/load-balancer-type":                    "Internal",
	"cloud.google.com/load-balancer-type":                     "Internal",
	"service.beta.kubernetes.io/oci-load-balancer-internal":   "true",
	"service.beta.kubernetes.io/aws-load-balancer-scheme":     "internal",
}

func isInternalLB(annotations map[string]string) bool {
	for k, want := range internalLBAnnotations {
		v, ok := annotations[k]
		if ok && (want == "" && v != "false" || strings.EqualFold(v, want)) {
			return true
		}
	}
	return false
}

func checkOpenLoadBalancers(s *model.Set) []Finding {
	var out []Finding
	for _, svc := range s.Services {
		if svc.V.Spec.Type != corev1.ServiceTypeLoadBalancer || isInternalLB(svc.V.Annotations) {
			continue
		}
		ranges := svc.V.Spec.LoadBalancerSourceRanges
		field := "spec.loadBalancerSourceRanges"
		if len(ranges) == 0 {
			if a := svc.V.Annotations[corev1.AnnotationLoadBalancerSourceRangesKey]; a != "" {
				ranges, field = strings.Split(a, ","), "metadata.annotations"
			}
		}
		var msg string
		if len(ranges) == 0 {
			msg = fmt.Sprintf("Service %q of type LoadBalancer has no loadBalancerSourceRanges: anyone can reach it", svc.Object.Name)
			field = "spec.type"
		} else if i := slices.IndexFunc(ranges, func(r string) bool { return isAnyAddress(strings.TrimSpace(r)) }); i >= 0 {
			msg = fmt.Sprintf("Service %q of type LoadBalancer allows source range %s: anyone can reach it", svc.Object.Name, strings.TrimSpace(ranges[i]))
		} else {
			continue
		}
		out = append(out, openLoadBalancer.At(svc.Object, field, "", msg))
	}
	return out
}

func checkNodePorts(s *model.Set) []Finding {
	var out []Finding
	for _, svc := range s.Services {
		if svc.V.Spec.Type == corev1.ServiceTypeNodePort {
			out = append(out, nodePort.At(svc.Object, "spec.type", "",
				fmt.Sprintf("Service %q of type NodePort opens its ports on every node", svc.Object.Name)))
		}
	}
	return out
}

func checkExternalIPs(s *model.Set) []Finding {
	var out []Finding
	for _, svc := range s.Services {
		if ips := svc.V.Spec.ExternalIPs; len(ips) > 0 {
			out = append(out, externalIPs.At(svc.Object, "spec.externalIPs", "",
				fmt.Sprintf("Service %q sets externalIPs %s", svc.Object.Name, strings.Join(ips, ", "))))
		}
	}
	return out
}

func checkIngressTLS(s *model.Set) []Finding {
	var out []Finding
	for _, ing := range s.Ingresses {
		if len(ing.V.Spec.TLS) == 0 {
			out = append(out, ingressTLS.At(ing.Object, "spec", "",
				fmt.Sprintf("Ingress %q has no spec.tls: it serves plain HTTP", ing.Object.Name)))
			continue
		}
		var tlsHosts []string
		for _, t := range ing.V.Spec.TLS {
			tlsHosts = append(tlsHosts, t.Hosts...)
		}
		var uncovered []string
		for _, r := range ing.V.Spec.Rules {
			if r.Host != "" && !slices.Contains(uncovered, r.Host) && !slices.ContainsFunc(tlsHosts, func(h string) bool { return hostCovers(h, r.Host) }) {
				uncovered = append(uncovered, r.Host)
			}
		}
		if len(uncovered) > 0 {
			out = append(out, ingressTLS.At(ing.Object, "spec.tls", "",
				fmt.Sprintf("Ingress %q serves %s without TLS: no spec.tls entry lists it", ing.Object.Name, strings.Join(uncovered, ", "))))
		}
	}
	return out
}

// hostCovers says whether a TLS host (possibly *.example.com) covers a rule host.
func hostCovers(tlsHost, host string) bool {
	if tlsHost == host {
		return true
	}
	suffix, ok := strings.CutPrefix(tlsHost, "*")
	if !ok {
		return false
	}
	label, rest, found := strings.Cut(host, ".")
	return found && label != "" && "."+rest == suffix
}
