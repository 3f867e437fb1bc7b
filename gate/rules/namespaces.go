package rules

// Namespaces (practice 000-3): workloads live in namespaces of their own, never in default
// or in the cluster's system namespaces; custom namespaces keep off the kube- prefix; and
// every Namespace enforces the Pod Security Standards level of the policy through Pod
// Security Admission labels, so the cluster itself rejects what this gate would.

import (
	"fmt"
	"strings"

	"github.com/kubegate/kubegate/gate/model"
	"k8s.io/pod-security-admission/api"
)

const namespacesDocs = "https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/"

var (
	defaultNamespace = &Rule{
		ID: "workload-default-namespace", Title: "Workload in the default namespace", Severity: Medium,
		Practices: []string{"000-3"},
		Refs:      []string{"CIS 5.7.4", namespacesDocs},
		Fix:       "Set metadata.namespace to the application's own namespace (or pass -n/--namespace when the tool that applies the manifests chooses it).",
		Doc: "A workload with no namespace lands wherever it is applied, usually \"default\", where " +
			"namespace-scoped RBAC, NetworkPolicies, quotas and Pod Security labels are rarely set. " +
			"Objects without metadata.namespace take the -n/--namespace of the command line.",
	}
	kubePrefixNamespace = &Rule{
		ID: "namespace-kube-prefix", Title: "Custom namespace named kube-*", Severity: Medium,
		Practices: []string{"000-3"},
		Refs:      []string{namespacesDocs},
		Fix:       "Rename the namespace: the kube- prefix is reserved for Kubernetes system namespaces.",
		Doc: "Namespaces starting with kube- are reserved for the system (kube-system, kube-public, " +
			"kube-node-lease); tools and people treat them as the cluster's own.",
	}
	namespacePSALabels = &Rule{
		ID: "namespace-pod-security-labels", Title: "Namespace does not enforce Pod Security Standards", Severity: Medium,
		Practices: []string{"000-2", "000-3"},
		Refs:      []string{"CIS 5.2.1", "https://kubernetes.io/docs/concepts/security/pod-security-admission/"},
		Fix:       "Label the Namespace pod-security.kubernetes.io/enforce: restricted (or the policy's profile).",
		Doc: "Pod Security Admission, which replaced PodSecurityPolicy, enforces a level per namespace " +
			"through the pod-security.kubernetes.io/enforce label. A Namespace without it, with an " +
			"invalid value or with a level below the policy's profile admits pods this gate would reject.",
	}
	systemNamespace = &Rule{
		ID: "workload-system-namespace", Title: "Workload in kube-system or kube-public", Severity: Medium,
		Practices: []string{"000-3"},
		Refs:      []string{namespacesDocs},
		Fix:       "Deploy the workload to a namespace of its own; kube-system and kube-public belong to the cluster's components.",
		Doc: "kube-system holds the control plane's credentials and privileged add-ons; an application " +
			"placed there shares them. kube-public is readable by everyone. Exempt the cluster's own " +
			"add-ons in the policy.",
	}
)

func checkDefaultNamespace(s *model.Set) []Finding {
	var out []Finding
	for _, p := range s.Pods {
		switch s.NamespaceOf(p.Object) {
		case "":
			out = append(out, defaultNamespace.At(p.Object, "metadata", "",
				"has no namespace: it lands wherever it is applied, usually \"default\""))
		case "default":
			out = append(out, defaultNamespace.At(p.Object, "metadata.namespace", "",
				"is deployed to the \"default\" namespace"))
		}
	}
	return out
}

var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

func checkKubePrefix(s *model.Set) []Finding {
	var out []Finding
	for _, ns := range s.Namespaces {
		if name := ns.Object.Name; strings.HasPrefix(name, "kube-") && !systemNamespaces[name] {
			out = append(out, kubePrefixNamespace.At(ns.Object, "metadata.name", "",
				fmt.Sprintf("namespace %q uses the kube- prefix reserved for Kubernetes system namespaces", name)))
		}
	}
	return out
}

const enforceLabel = api.EnforceLevelLabel // pod-security.kubernetes.io/enforce

func checkPSALabels(s *model.Set) []Finding {
	want := api.Level(s.Policy.Profile)
	var out []Finding
	for _, ns := range s.Namespaces {
		value, set := ns.V.Labels[enforceLabel]
		var msg string
		switch level, err := api.ParseLevel(value); {
		case !set:
			msg = fmt.Sprintf("namespace %q has no %s label (want %s)", ns.Object.Name, enforceLabel, want)
		case err != nil:
			msg = fmt.Sprintf("namespace %q has %s=%q, which is not a level (want %s)", ns.Object.Name, enforceLabel, value, want)
		case levelRank(level) < levelRank(want):
			msg = fmt.Sprintf("namespace %q enforces %s, weaker than the policy's %s profile", ns.Object.Name, level, want)
		default:
			continue
		}
		out = append(out, namespacePSALabels.At(ns.Object, "metadata.labels", "", msg))
	}
	return out
}

func levelRank(l api.Level) int {
	switch l {
	case api.LevelRestricted:
		return 2
	case api.LevelBaseline:
		return 1
	}
	return 0
}

func checkSystemNamespace(s *model.Set) []Finding {
	var out []Finding
	for _, p := range s.Pods {
		if ns := s.NamespaceOf(p.Object); ns == "kube-system" || ns == "kube-public" {
			out = append(out, systemNamespace.At(p.Object, "metadata.namespace", "",
				fmt.Sprintf("is deployed to %q, the namespace of the cluster's own components", ns)))
		}
	}
	return out
}
