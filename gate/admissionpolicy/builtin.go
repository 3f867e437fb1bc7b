package admissionpolicy

import (
	"fmt"
	"slices"
	"strings"

	admv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
)

// celRule is a built-in manifest rule written as a CEL validation, for the cluster to
// enforce what CI checks (kubegate generate admission-policies). Only the rules that
// judge one object by itself are here: the set-level ones (NetworkPolicy coverage, RBAC
// joins, Services selecting pods, ServiceAccount token mounts) need objects admission
// does not see, the image rules need the registry, and the Pod Security Standards are
// the cluster's own Pod Security Admission (namespace-pod-security-labels requires it),
// the same library kubegate checks them with. TestGeneratedPoliciesMatchTheRules holds
// each expression to its rule's verdicts.
type celRule struct {
	id        string
	resources []admv1.NamedRuleWithOperations
	// variables the expression reads (the pod template's, for workloads).
	variables  []admv1.Variable
	expression func(p *policy.Policy) string
}

func resourcesOf(group string, resources ...string) admv1.NamedRuleWithOperations {
	return admv1.NamedRuleWithOperations{RuleWithOperations: admv1.RuleWithOperations{
		Operations: []admv1.OperationType{admv1.Create, admv1.Update},
		Rule:       admv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources},
	}}
}

var (
	workloadResources = []admv1.NamedRuleWithOperations{
		resourcesOf("", "pods", "podtemplates", "replicationcontrollers"),
		resourcesOf("apps", "deployments", "statefulsets", "daemonsets", "replicasets"),
		resourcesOf("batch", "jobs", "cronjobs"),
	}
	roleResources    = []admv1.NamedRuleWithOperations{resourcesOf("rbac.authorization.k8s.io", "roles", "clusterroles")}
	bindingResources = []admv1.NamedRuleWithOperations{resourcesOf("rbac.authorization.k8s.io", "rolebindings", "clusterrolebindings")}
)

// The variables of the workload rules: the pod template of every workload kind, its
// containers, and whether it runs on Windows.
var (
	podSpec = admv1.Variable{Name: "podSpec", Expression: "object.kind == 'Pod' ? object.spec : object.kind == 'PodTemplate' ? object.template.spec : " +
		"object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec"}
	containers = admv1.Variable{Name: "containers", Expression: "(has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) + " +
		"(has(variables.podSpec.containers) ? variables.podSpec.containers : []) + " +
		"(has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])"}
	windows = admv1.Variable{Name: "windows", Expression: "(has(variables.podSpec.os) && has(variables.podSpec.os.name) && variables.podSpec.os.name == 'windows') || " +
		"(has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.windowsOptions) && " +
		"has(variables.podSpec.securityContext.windowsOptions.hostProcess) && variables.podSpec.securityContext.windowsOptions.hostProcess == true)"}
)

func fixed(expr string) func(*policy.Policy) string {
	return func(*policy.Policy) string { return expr }
}

// verbsOn is a CEL test that a role rule r grants one of verbs on resource (a
// subresource, "pods/exec"), as rules.grants reads it.
func verbsOn(resource string, verbs ...string) string {
	parent, _, _ := strings.Cut(resource, "/")
	return fmt.Sprintf("(r.resources.exists(x, x == '%s' || x == '%s/*') && r.verbs.exists(v, v in ['*', '%s']))",
		resource, parent, strings.Join(verbs, "', '"))
}

var celRules = []celRule{
	{id: "read-only-root-filesystem", resources: workloadResources, variables: []admv1.Variable{podSpec, containers, windows}, expression: fixed(
		"variables.windows || variables.containers.all(c, has(c.securityContext) && has(c.securityContext.readOnlyRootFilesystem) && c.securityContext.readOnlyRootFilesystem == true)")},
	{id: "workload-default-namespace", resources: workloadResources, expression: fixed("request.namespace != 'default'")},
	{id: "workload-system-namespace", resources: workloadResources, expression: fixed("!(request.namespace in ['kube-system', 'kube-public'])")},
	{id: "secret-env-var", resources: workloadResources, variables: []admv1.Variable{podSpec, containers}, expression: fixed(
		"variables.containers.all(c, (!has(c.env) || c.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef))) && " +
			"(!has(c.envFrom) || c.envFrom.all(e, !has(e.secretRef))))")},
	{id: "projected-token-expiration", resources: workloadResources, variables: []admv1.Variable{podSpec}, expression: func(p *policy.Policy) string {
		limit := p.Rules.Settings.MaxTokenExpirationSeconds
		if limit <= 0 {
			limit = policy.DefaultMaxTokenExpiration
		}
		return fmt.Sprintf("!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.projected) || !has(v.projected.sources) || "+
			"v.projected.sources.all(s, !has(s.serviceAccountToken) || !has(s.serviceAccountToken.expirationSeconds) || s.serviceAccountToken.expirationSeconds <= %d))", limit)
	}},
	{id: "namespace-kube-prefix", resources: []admv1.NamedRuleWithOperations{resourcesOf("", "namespaces")}, expression: fixed(
		"!object.metadata.name.startsWith('kube-') || object.metadata.name in ['kube-system', 'kube-public', 'kube-node-lease']")},
	{id: "namespace-pod-security-labels", resources: []admv1.NamedRuleWithOperations{resourcesOf("", "namespaces")}, expression: func(p *policy.Policy) string {
		levels := "'restricted'"
		if p.Profile == policy.ProfileBaseline {
			levels = "'baseline', 'restricted'"
		}
		return "has(object.metadata.labels) && 'pod-security.kubernetes.io/enforce' in object.metadata.labels && " +
			"object.metadata.labels['pod-security.kubernetes.io/enforce'] in [" + levels + "]"
	}},
	{id: "rbac-escalation-verbs", resources: roleResources, expression: fixed(
		"!has(object.rules) || object.rules.all(r, !has(r.verbs) || !r.verbs.exists(v, v in ['bind', 'escalate', 'impersonate']))")},
	{id: "rbac-sensitive-subresources", resources: roleResources, expression: fixed(
		"!has(object.rules) || object.rules.all(r, !has(r.apiGroups) || !has(r.resources) || !has(r.verbs) || " +
			"!r.apiGroups.exists(g, g == '' || g == '*') || !(" + strings.Join([]string{
			verbsOn("pods/exec", "create", "get"), verbsOn("pods/attach", "create", "get"),
			verbsOn("nodes/proxy", "get", "create", "update", "patch", "delete"), verbsOn("serviceaccounts/token", "create"),
		}, " || ") + "))")},
	{id: "rbac-broad-subject", resources: bindingResources, expression: fixed(
		"!has(object.subjects) || !object.subjects.exists(s, (s.kind == 'User' && s.name == 'system:anonymous') || " +
			"(s.kind == 'Group' && s.name in ['system:unauthenticated', 'system:authenticated', 'system:serviceaccounts']))")},
	{id: "rbac-default-service-account", resources: bindingResources, expression: fixed(
		"!has(object.subjects) || !object.subjects.exists(s, s.kind == 'ServiceAccount' && s.name == 'default')")},
	{id: "secret-legacy-service-account-token", resources: []admv1.NamedRuleWithOperations{resourcesOf("", "secrets")}, expression: fixed(
		"!has(object.type) || object.type != 'kubernetes.io/service-account-token'")},
	{id: "service-node-port", resources: []admv1.NamedRuleWithOperations{resourcesOf("", "services")}, expression: fixed(
		"!has(object.spec.type) || object.spec.type != 'NodePort'")},
	{id: "service-external-ips", resources: []admv1.NamedRuleWithOperations{resourcesOf("", "services")}, expression: fixed(
		"!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0")},
	{id: "ingress-without-tls", resources: []admv1.NamedRuleWithOperations{resourcesOf("networking.k8s.io", "ingresses")}, expression: fixed(
		"has(object.spec.tls) && size(object.spec.tls) > 0 && (!has(object.spec.rules) || object.spec.rules.all(r, !has(r.host) || r.host == '' || " +
			"object.spec.tls.exists(t, has(t.hosts) && t.hosts.exists(h, h == r.host || " +
			"(h.startsWith('*') && r.host.indexOf('.') > 0 && r.host.substring(r.host.indexOf('.')) == h.substring(1))))))")},
}

// PolicyPrefix names the generated policies: kubegate-<rule>.
const PolicyPrefix = "kubegate-"

// RuleAnnotation on a generated policy names the rule it enforces.
const RuleAnnotation = "kubegate.dev/rule"

// GeneratedRules are the rules Generate writes, in order.
func GeneratedRules() []string {
	ids := make([]string, len(celRules))
	for i, r := range celRules {
		ids[i] = r.id
	}
	return ids
}

// Generate writes the built-in rules the policy enables that can be written in CEL as
// ValidatingAdmissionPolicies, each with a binding that applies it with action, as one
// YAML stream.
func Generate(p *policy.Policy, action admv1.ValidationAction) ([]byte, error) {
	var b strings.Builder
	for _, cr := range celRules {
		if !p.Enabled(cr.id) {
			continue
		}
		r, ok := rules.Lookup(cr.id)
		if !ok {
			return nil, fmt.Errorf("generate: no rule %s", cr.id) // TestGeneratedRulesExist
		}
		name := PolicyPrefix + cr.id
		spec := map[string]any{
			"failurePolicy": "Fail",
			"matchConstraints": map[string]any{
				"resourceRules": cr.resources,
			},
			"validations": []map[string]any{{
				"expression": cr.expression(p),
				"message":    fmt.Sprintf("kubegate %s: %s. Fix: %s", r.ID, r.Title, r.Fix),
				"reason":     "Invalid",
			}},
		}
		if len(cr.variables) > 0 {
			spec["variables"] = cr.variables
		}
		docs := []map[string]any{{
			"apiVersion": group + "/v1", "kind": "ValidatingAdmissionPolicy",
			"metadata": map[string]any{
				"name":        name,
				"labels":      map[string]string{"app.kubernetes.io/managed-by": "kubegate"},
				"annotations": map[string]string{RuleAnnotation: r.ID},
			},
			"spec": spec,
		}, {
			"apiVersion": group + "/v1", "kind": "ValidatingAdmissionPolicyBinding",
			"metadata": map[string]any{
				"name":   name,
				"labels": map[string]string{"app.kubernetes.io/managed-by": "kubegate"},
			},
			"spec": map[string]any{"policyName": name, "validationActions": []admv1.ValidationAction{action}},
		}}
		fmt.Fprintf(&b, "# %s (%s): %s\n", r.ID, r.Severity, r.Title)
		for _, d := range docs {
			out, err := yaml.Marshal(d)
			if err != nil {
				return nil, err
			}
			b.WriteString("---\n")
			b.Write(out)
		}
	}
	return []byte(b.String()), nil
}

// RuleOfPolicy is the built-in rule a generated policy enforces, from its name.
func RuleOfPolicy(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, PolicyPrefix)
	return id, ok && slices.Contains(GeneratedRules(), id)
}
