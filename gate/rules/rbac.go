package rules

// RBAC least privilege (practice 002-1): roles grant only what a workload or a person
// needs, and nobody but the cluster's own components holds cluster-admin. The rules read
// Roles, ClusterRoles and their bindings as rendered; ClusterRoles aggregated from others
// in the set are resolved first, so a binding to an aggregate is judged by what it grants.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/kubegate/kubegate/gate/model"
	rbacv1 "k8s.io/api/rbac/v1"
)

const rbacDocs = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/"

var (
	rbacWildcard = &Rule{
		ID: "rbac-wildcard", Title: "Role grants wildcard permissions", Severity: High,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.3", rbacDocs},
		Fix:       "List the apiGroups, resources and verbs the subject needs instead of \"*\".",
		Doc: "A Role or ClusterRole rule with \"*\" in apiGroups, resources, verbs or nonResourceURLs " +
			"grants every permission of the matched APIs, including ones added to the cluster later.",
	}
	rbacEscalationVerbs = &Rule{
		ID: "rbac-escalation-verbs", Title: "Role grants bind, escalate or impersonate", Severity: High,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.8", rbacDocs},
		Fix:       "Remove the bind, escalate and impersonate verbs; grant the needed permissions directly.",
		Doc: "The bind and escalate verbs let a subject grant itself permissions it does not hold; " +
			"impersonate lets it act as another user, group or ServiceAccount. Each is a path to cluster-admin.",
	}
	rbacSensitiveSubresources = &Rule{
		ID: "rbac-sensitive-subresources", Title: "Role grants exec, attach, node proxy or token creation", Severity: High,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.6", rbacDocs},
		Fix:       "Remove pods/exec, pods/attach, nodes/proxy and serviceaccounts/token create from the role; use them only in break-glass roles.",
		Doc: "pods/exec and pods/attach run commands in other workloads' containers, nodes/proxy reaches " +
			"the kubelet API (and through it every pod on the node), and creating serviceaccounts/token " +
			"mints credentials of any ServiceAccount the rule names. Granting \"get\" on pods/exec is " +
			"enough for exec over WebSockets.",
	}
	rbacClusterSecretsRead = &Rule{
		ID: "rbac-cluster-secrets-read", Title: "ClusterRole reads secrets cluster-wide", Severity: High,
		Practices: []string{"002-1", "002-2"},
		Refs:      []string{"CIS 5.1.2", rbacDocs},
		Fix:       "Grant get/list/watch on secrets in a namespaced Role (or bind the ClusterRole with RoleBindings), naming the secrets with resourceNames.",
		Doc: "A ClusterRole with get, list or watch on secrets that is bound by a ClusterRoleBinding " +
			"(or by nothing in the set, so it is meant to be) reads every secret of every namespace, " +
			"ServiceAccount tokens of kube-system included. A ClusterRole bound only by RoleBindings is " +
			"scoped to those namespaces and is not reported.",
	}
	rbacClusterAdmin = &Rule{
		ID: "rbac-cluster-admin", Title: "cluster-admin bound to a non-system subject", Severity: Critical,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.1", rbacDocs},
		Fix:       "Bind a role that grants only what the subject needs; keep cluster-admin for break-glass access.",
		Doc: "Binding cluster-admin, or a ClusterRole in the set that grants \"*\" on \"*\" in every " +
			"API group, to a user, a group or a ServiceAccount outside kube-system gives it full " +
			"control of the cluster. Subjects named system:* (the cluster's own components) and " +
			"ServiceAccounts of kube-system are not reported.",
	}
	rbacBroadSubject = &Rule{
		ID: "rbac-broad-subject", Title: "Role bound to anonymous, unauthenticated or all authenticated users", Severity: Critical,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.1", rbacDocs},
		Fix:       "Bind the role to the users, groups or ServiceAccounts that need it, never to system:anonymous, system:unauthenticated, system:authenticated or system:serviceaccounts.",
		Doc: "A binding to system:anonymous or system:unauthenticated grants its permissions to anyone " +
			"who can reach the API server; system:authenticated and system:serviceaccounts to every " +
			"account of the cluster, each pod's ServiceAccount included.",
	}
	rbacCreatePods = &Rule{
		ID: "rbac-create-pods", Title: "Broad subject may create pods", Severity: Medium,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.4", rbacDocs},
		Fix:       "Let individual ServiceAccounts create pods in their own namespace only (a RoleBinding), or create pods through a controller.",
		Doc: "Whoever may create pods may run them as any ServiceAccount of the namespace and mount " +
			"any of its secrets. Reported when a role granting create on pods is bound cluster-wide " +
			"(ClusterRoleBinding) or to a group.",
	}
	rbacDefaultServiceAccount = &Rule{
		ID: "rbac-default-service-account", Title: "Role bound to the default ServiceAccount", Severity: Medium,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.5", rbacDocs},
		Fix:       "Create a ServiceAccount for the workload, bind the role to it and set serviceAccountName.",
		Doc: "Every pod of a namespace that names no ServiceAccount runs as \"default\"; permissions " +
			"bound to it are given to all of them.",
	}
	tokenAutomount = &Rule{
		ID: "service-account-token-automount", Title: "ServiceAccount token mounted without need", Severity: Medium,
		Practices: []string{"002-1"},
		Refs:      []string{"CIS 5.1.6", "https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#opt-out-of-api-credential-automounting"},
		Fix:       "Set automountServiceAccountToken: false on the ServiceAccount (or the pod); set it to true on the pod only when the workload calls the API.",
		Doc: "A pod gets an API token of its ServiceAccount unless automountServiceAccountToken is false " +
			"on the pod or on the ServiceAccount; an attacker in the container can use it. A pod that " +
			"sets automountServiceAccountToken: true has declared that it calls the API and is not reported.",
	}
)

// grants returns the verbs among want that rule grants on resource in API group.
// A "*" resource counts only when wildcardResource is set: the wildcard itself is the
// fact rbac-wildcard reports, and reporting it again here would say one thing twice.
func grants(rule rbacv1.PolicyRule, group, resource string, wildcardResource bool, want ...string) []string {
	if !slices.Contains(rule.APIGroups, group) && !slices.Contains(rule.APIGroups, "*") {
		return nil
	}
	parent, _, sub := strings.Cut(resource, "/")
	if !slices.Contains(rule.Resources, resource) && !(sub && slices.Contains(rule.Resources, parent+"/*")) &&
		!(wildcardResource && slices.Contains(rule.Resources, "*")) {
		return nil
	}
	if slices.Contains(rule.Verbs, "*") {
		return want
	}
	var out []string
	for _, v := range want {
		if slices.Contains(rule.Verbs, v) {
			out = append(out, v)
		}
	}
	return out
}

// isEverything is a rule granting every verb on every resource of every API group.
func isEverything(rule rbacv1.PolicyRule) bool {
	return slices.Contains(rule.APIGroups, "*") && slices.Contains(rule.Resources, "*") && slices.Contains(rule.Verbs, "*")
}

func checkRBACWildcard(s *model.Set) []Finding {
	// A role granting everything and bound to someone is one fact, rbac-cluster-admin's,
	// at the binding: its wildcards are not reported again.
	admin := map[*rbacv1.ClusterRole]bool{}
	for _, g := range adminGrants(s) {
		if g.roleObj != nil {
			admin[g.roleObj.V] = true
		}
	}
	var out []Finding
	for _, r := range s.Roles {
		if admin[r.V] {
			continue
		}
		for i, rule := range r.V.Rules {
			var fields []string
			for _, f := range []struct {
				name   string
				values []string
			}{{"apiGroups", rule.APIGroups}, {"resources", rule.Resources}, {"verbs", rule.Verbs}, {"nonResourceURLs", rule.NonResourceURLs}} {
				if slices.Contains(f.values, "*") {
					fields = append(fields, f.name)
				}
			}
			if len(fields) > 0 {
				out = append(out, rbacWildcard.At(r.Object, fmt.Sprintf("rules[%d]", i), "",
					fmt.Sprintf("rules[%d] grants \"*\" in %s", i, strings.Join(fields, ", "))))
			}
		}
	}
	return out
}

func checkEscalationVerbs(s *model.Set) []Finding {
	var out []Finding
	for _, r := range s.Roles {
		for i, rule := range r.V.Rules {
			var verbs []string
			for _, v := range []string{"bind", "escalate", "impersonate"} {
				if slices.Contains(rule.Verbs, v) {
					verbs = append(verbs, v)
				}
			}
			if len(verbs) > 0 {
				out = append(out, rbacEscalationVerbs.At(r.Object, fmt.Sprintf("rules[%d]", i), "",
					fmt.Sprintf("rules[%d] grants %s on %s", i, strings.Join(verbs, ", "), strings.Join(rule.Resources, ", "))))
			}
		}
	}
	return out
}

// sensitiveSubresources are the core-group subresources that reach into other workloads or
// mint credentials, with the verbs that do.
var sensitiveSubresources = []struct {
	resource string
	verbs    []string
}{
	{"pods/exec", []string{"create", "get"}},
	{"pods/attach", []string{"create", "get"}},
	{"nodes/proxy", []string{"get", "create", "update", "patch", "delete"}},
	{"serviceaccounts/token", []string{"create"}},
}

func checkSensitiveSubresources(s *model.Set) []Finding {
	var out []Finding
	for _, r := range s.Roles {
		for i, rule := range r.V.Rules {
			var what []string
			for _, sr := range sensitiveSubresources {
				if verbs := grants(rule, "", sr.resource, false, sr.verbs...); len(verbs) > 0 {
					what = append(what, strings.Join(verbs, "/")+" "+sr.resource)
				}
			}
			if len(what) > 0 {
				out = append(out, rbacSensitiveSubresources.At(r.Object, fmt.Sprintf("rules[%d]", i), "",
					fmt.Sprintf("rules[%d] grants %s", i, strings.Join(what, ", "))))
			}
		}
	}
	return out
}

func checkClusterSecretsRead(s *model.Set) []Finding {
	x := s.RBAC()
	var out []Finding
	for _, r := range s.Roles {
		if r.Object.Kind != "ClusterRole" {
			continue
		}
		bindings := x.BoundBy(r.V)
		scope := "and nothing in the checked files binds it to a namespace"
		if len(bindings) > 0 {
			i := slices.IndexFunc(bindings, func(b model.Typed[rbacv1.ClusterRoleBinding]) bool { return b.Object.Kind == "ClusterRoleBinding" })
			if i < 0 {
				continue // only RoleBindings: namespaced
			}
			scope = fmt.Sprintf("and ClusterRoleBinding %q binds it cluster-wide", bindings[i].Object.Name)
		}
		for i, rule := range r.V.Rules {
			if verbs := grants(rule, "", "secrets", false, "get", "list", "watch"); len(verbs) > 0 {
				out = append(out, rbacClusterSecretsRead.At(r.Object, fmt.Sprintf("rules[%d]", i), "",
					fmt.Sprintf("rules[%d] grants %s on secrets in every namespace, %s", i, strings.Join(verbs, ", "), scope)))
			}
		}
	}
	return out
}

// accountNamespace is the namespace of a ServiceAccount subject: its own, else the binding's.
func accountNamespace(s *model.Set, b model.Typed[rbacv1.ClusterRoleBinding], sub rbacv1.Subject) string {
	if sub.Namespace != "" {
		return sub.Namespace
	}
	return s.NamespaceOf(b.Object)
}

// subjectName names a subject as kubectl does: "ServiceAccount ns/name", "Group devs".
func subjectName(s *model.Set, b model.Typed[rbacv1.ClusterRoleBinding], sub rbacv1.Subject) string {
	if sub.Kind == "ServiceAccount" {
		return fmt.Sprintf("ServiceAccount %s/%s", accountNamespace(s, b, sub), sub.Name)
	}
	return sub.Kind + " " + sub.Name
}

// broadSubjects are the groups and users that stand for everyone or every account.
var broadSubjects = map[string]string{
	"User/system:anonymous":        "anyone who can reach the API server",
	"Group/system:unauthenticated": "anyone who can reach the API server",
	"Group/system:authenticated":   "every account of the cluster",
	"Group/system:serviceaccounts": "every ServiceAccount of the cluster",
}

// systemOrBroad says whether a subject is one of the cluster's own components (a system:*
// user or group, a ServiceAccount of kube-system) or stands for everyone. Rules about what
// a role grants skip both: the first are entitled to it, the second are rbac-broad-subject's.
func systemOrBroad(s *model.Set, b model.Typed[rbacv1.ClusterRoleBinding], sub rbacv1.Subject) bool {
	if sub.Kind == "ServiceAccount" {
		return accountNamespace(s, b, sub) == "kube-system"
	}
	return strings.HasPrefix(sub.Name, "system:")
}

func checkClusterAdmin(s *model.Set) []Finding {
	var out []Finding
	for _, g := range adminGrants(s) {
		out = append(out, rbacClusterAdmin.At(g.binding.Object, fmt.Sprintf("subjects[%d]", g.subject), "",
			fmt.Sprintf("binds %s to %s", g.role, subjectName(s, g.binding, g.binding.V.Subjects[g.subject]))))
	}
	return out
}

// adminGrant is cluster-admin, or a role granting everything like it, bound to a subject
// that is neither a system one nor everyone.
type adminGrant struct {
	binding model.Typed[rbacv1.ClusterRoleBinding]
	subject int
	role    string                           // as the message names it
	roleObj *model.Typed[rbacv1.ClusterRole] // nil for the built-in cluster-admin
}

func adminGrants(s *model.Set) []adminGrant {
	x := s.RBAC()
	var out []adminGrant
	for _, b := range s.Bindings {
		role, obj := "cluster-admin", (*model.Typed[rbacv1.ClusterRole])(nil)
		if b.V.RoleRef.Kind != "ClusterRole" || b.V.RoleRef.Name != "cluster-admin" {
			obj = x.RoleOf(s, b)
			if obj == nil || !slices.ContainsFunc(x.Effective(obj.V), isEverything) {
				continue
			}
			role = fmt.Sprintf("%s %q, which grants everything like cluster-admin,", b.V.RoleRef.Kind, b.V.RoleRef.Name)
		}
		for j, sub := range b.V.Subjects {
			if !systemOrBroad(s, b, sub) {
				out = append(out, adminGrant{b, j, role, obj})
			}
		}
	}
	return out
}

func checkBroadSubjects(s *model.Set) []Finding {
	var out []Finding
	for _, b := range s.Bindings {
		for j, sub := range b.V.Subjects {
			if who, ok := broadSubjects[sub.Kind+"/"+sub.Name]; ok {
				out = append(out, rbacBroadSubject.At(b.Object, fmt.Sprintf("subjects[%d]", j), "",
					fmt.Sprintf("binds %s %q to %s %s (%s)", b.V.RoleRef.Kind, b.V.RoleRef.Name, sub.Kind, sub.Name, who)))
			}
		}
	}
	return out
}

func checkCreatePods(s *model.Set) []Finding {
	x := s.RBAC()
	var out []Finding
	for _, b := range s.Bindings {
		r := x.RoleOf(s, b)
		if r == nil || !slices.ContainsFunc(x.Effective(r.V), func(rule rbacv1.PolicyRule) bool {
			return len(grants(rule, "", "pods", false, "create")) > 0
		}) {
			continue
		}
		for j, sub := range b.V.Subjects {
			if systemOrBroad(s, b, sub) {
				continue
			}
			var why string
			switch {
			case b.Object.Kind == "ClusterRoleBinding":
				why = "in every namespace"
			case sub.Kind == "Group":
				why = "as a whole group"
			default:
				continue
			}
			out = append(out, rbacCreatePods.At(b.Object, fmt.Sprintf("subjects[%d]", j), "",
				fmt.Sprintf("lets %s create pods %s (through %s %q)", subjectName(s, b, sub), why, r.Object.Kind, r.Object.Name)))
		}
	}
	return out
}

func checkDefaultServiceAccountBinding(s *model.Set) []Finding {
	var out []Finding
	for _, b := range s.Bindings {
		for j, sub := range b.V.Subjects {
			if sub.Kind == "ServiceAccount" && sub.Name == "default" {
				out = append(out, rbacDefaultServiceAccount.At(b.Object, fmt.Sprintf("subjects[%d]", j), "",
					fmt.Sprintf("binds %s %q to %s, which every pod of the namespace without a serviceAccountName uses",
						b.V.RoleRef.Kind, b.V.RoleRef.Name, subjectName(s, b, sub))))
			}
		}
	}
	return out
}

func checkTokenAutomount(s *model.Set) []Finding {
	accounts := map[string]*bool{}
	for _, sa := range s.ServiceAccounts {
		accounts[s.NamespaceOf(sa.Object)+"/"+sa.Object.Name] = sa.V.AutomountServiceAccountToken
	}
	var out []Finding
	for _, p := range s.Pods {
		if p.Spec.AutomountServiceAccountToken != nil {
			continue // false: no token; true: the pod says it needs one
		}
		name := cmp.Or(p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount, "default")
		auto, known := accounts[s.NamespaceOf(p.Object)+"/"+name]
		if auto != nil && !*auto {
			continue
		}
		why := "the pod does not set automountServiceAccountToken: false, and the ServiceAccount is not defined in the checked files"
		if known {
			why = "neither the pod nor the ServiceAccount sets automountServiceAccountToken: false"
		}
		out = append(out, tokenAutomount.At(p.Object, p.Template.Path+".automountServiceAccountToken", "",
			fmt.Sprintf("pod mounts an API token of ServiceAccount %q (%s)", name, why)))
	}
	return out
}
