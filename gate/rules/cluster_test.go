package rules

import (
	"strings"
	"testing"

	"github.com/kubegate/kubegate/gate/model"
	kgpolicy "github.com/kubegate/kubegate/gate/policy"
)

// Edge cases of the cluster-object rules; the hardened application and one defect per
// rule are tested in package gate (hardened_test.go).

// messages runs one rule and returns "line: message" of each finding.
func messages(t *testing.T, id, yaml string, opts model.Options) []string {
	t.Helper()
	var out []string
	for _, f := range run(t, id, set(t, yaml, opts)) {
		out = append(out, f.Message)
	}
	return out
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestAPIVersionsFollowTheTarget(t *testing.T) {
	cron := "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c, namespace: a}\nspec: {schedule: '* * * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: x}]}}}}}\n"
	expect(t, messages(t, "api-deprecated", cron, kubeMinor(22)),
		"batch/v1beta1 CronJob is deprecated since 1.21 and removed in 1.25 (use batch/v1)")
	expect(t, messages(t, "api-removed", cron, kubeMinor(22)))
	expect(t, messages(t, "api-removed", cron, model.Options{}),
		"batch/v1beta1 CronJob is not served by Kubernetes 1.37: removed in 1.25 (use batch/v1)")
	expect(t, messages(t, "api-deprecated", cron, kubeMinor(20)))
	psp := "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: p}\n"
	expect(t, messages(t, "api-removed", psp, model.Options{}),
		"policy/v1beta1 PodSecurityPolicy is not served by Kubernetes 1.37: removed in 1.25 (use Pod Security Admission (label namespaces pod-security.kubernetes.io/enforce))")
	// A chain of replacements ends at the served version.
	fs := "apiVersion: flowcontrol.apiserver.k8s.io/v1beta1\nkind: FlowSchema\nmetadata: {name: f}\n"
	expect(t, messages(t, "api-removed", fs, model.Options{}),
		"flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema is not served by Kubernetes 1.37: removed in 1.26 (use flowcontrol.apiserver.k8s.io/v1)")
}

func TestNamespaceLabels(t *testing.T) {
	ns := func(labels string) string {
		return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {" + labels + "}\n"
	}
	expect(t, messages(t, "namespace-pod-security-labels", ns(""), model.Options{}),
		`namespace "a" has no pod-security.kubernetes.io/enforce label (want restricted)`)
	expect(t, messages(t, "namespace-pod-security-labels", ns("pod-security.kubernetes.io/enforce: strict"), model.Options{}),
		`namespace "a" has pod-security.kubernetes.io/enforce="strict", which is not a level (want restricted)`)
	expect(t, messages(t, "namespace-pod-security-labels", ns("pod-security.kubernetes.io/enforce: baseline"), profile("baseline")))
	expect(t, messages(t, "namespace-pod-security-labels", ns("pod-security.kubernetes.io/enforce: privileged"), profile("baseline")),
		`namespace "a" enforces privileged, weaker than the policy's baseline profile`)
	// System namespaces keep their names; -n places objects without a namespace.
	expect(t, messages(t, "namespace-kube-prefix", "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n", model.Options{}))
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n"
	expect(t, messages(t, "workload-default-namespace", pod, model.Options{Namespace: "shop"}))
	expect(t, messages(t, "workload-default-namespace", pod, model.Options{Namespace: "default"}), `is deployed to the "default" namespace`)
}

const twoPods = `apiVersion: v1
kind: Pod
metadata: {name: a, namespace: one}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: two}
spec: {containers: [{name: c, image: x}]}
`

func TestDefaultDeny(t *testing.T) {
	np := func(ns, spec string) string {
		return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: " + ns + "}\nspec: " + spec + "\n"
	}
	// policyTypes defaults: Ingress always, Egress only with egress rules.
	expect(t, messages(t, "network-policy-default-deny", twoPods+np("one", "{podSelector: {}}")+np("two", "{podSelector: {}, egress: [{to: [{podSelector: {}}]}]}"), model.Options{}),
		`namespace "one" has no NetworkPolicy with podSelector: {} for Egress`)
	// A policy selecting some pods isolates only those.
	expect(t, messages(t, "network-policy-default-deny", twoPods+np("one", "{podSelector: {matchLabels: {a: b}}, policyTypes: [Ingress, Egress]}"), settings(kgpolicy.Settings{NetworkPoliciesElsewhere: []string{"tw*"}})),
		`namespace "one" has no NetworkPolicy with podSelector: {} for Ingress and Egress`)
}

func TestAllowAll(t *testing.T) {
	np := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: one}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
    - {}
    - from: [{podSelector: {matchLabels: {app: a}}}, {ipBlock: {cidr: 10.0.0.0/8}}]
  egress:
    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
      ports: [{port: 443, protocol: TCP}]
    - to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    - to: [{ipBlock: {cidr: "::/0"}}]
`
	expect(t, messages(t, "network-policy-allow-all", np, model.Options{}),
		"spec.ingress[0] has no from: it allows traffic from any source",
		"spec.egress[0].to[0] has ipBlock 0.0.0.0/0: it matches every address (on 443/TCP)",
		"spec.egress[2].to[0] has ipBlock ::/0: it matches every address")
}

const aggregated = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: all}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {acme.io/aggregate-to-all: "true"}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: part, labels: {acme.io/aggregate-to-all: "true"}}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: all}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: all}
subjects:
  - {kind: User, name: alice}
  - {kind: Group, name: "system:masters"}
  - {kind: ServiceAccount, name: ctrl, namespace: kube-system}
`

func TestRBACAggregationAndSystemSubjects(t *testing.T) {
	expect(t, messages(t, "rbac-cluster-admin", aggregated, model.Options{}),
		`binds ClusterRole "all", which grants everything like cluster-admin, to User alice`)
	// The wildcard is one fact, reported once: not again as exec or secrets access.
	expect(t, messages(t, "rbac-wildcard", aggregated, model.Options{}), `rules[0] grants "*" in apiGroups, resources, verbs`)
	expect(t, messages(t, "rbac-sensitive-subresources", aggregated, model.Options{}))
	expect(t, messages(t, "rbac-cluster-secrets-read", aggregated, model.Options{}))
}

func TestRBACSecretsScope(t *testing.T) {
	role := "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [{apiGroups: [\"\"], resources: [secrets], verbs: [watch]}]\n"
	rb := "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: a}\nroleRef: {kind: ClusterRole, name: r}\nsubjects: [{kind: ServiceAccount, name: s}]\n"
	crb := "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: cb}\nroleRef: {kind: ClusterRole, name: r}\nsubjects: [{kind: ServiceAccount, name: s, namespace: a}]\n"
	expect(t, messages(t, "rbac-cluster-secrets-read", role+rb, model.Options{}))
	expect(t, messages(t, "rbac-cluster-secrets-read", role+rb+crb, model.Options{}),
		`rules[0] grants watch on secrets in every namespace, and ClusterRoleBinding "cb" binds it cluster-wide`)
	// Get on pods/exec is enough for exec over WebSockets; pods/* covers it.
	exec := "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: a}\nrules: [{apiGroups: [\"\"], resources: [\"pods/*\", nodes/proxy], verbs: [get]}]\n"
	expect(t, messages(t, "rbac-sensitive-subresources", exec, model.Options{}), "rules[0] grants get pods/exec, get pods/attach, get nodes/proxy")
	// Create pods through a RoleBinding to one ServiceAccount is scoped; to a group it is not.
	pods := "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: a}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [create]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: a}\nroleRef: {kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: s}, {kind: Group, name: devs}]\n"
	expect(t, messages(t, "rbac-create-pods", pods, model.Options{}), `lets Group devs create pods as a whole group (through Role "r")`)
}

func TestTokenAutomount(t *testing.T) {
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {serviceAccountName: s, containers: [{name: c, image: x}]}\n"
	sa := func(auto string) string {
		return "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: s, namespace: a}\nautomountServiceAccountToken: " + auto + "\n"
	}
	expect(t, messages(t, "service-account-token-automount", pod+sa("false"), model.Options{}))
	expect(t, messages(t, "service-account-token-automount", pod, model.Options{}),
		`pod mounts an API token of ServiceAccount "s" (the pod does not set automountServiceAccountToken: false, and the ServiceAccount is not defined in the checked files)`)
	declared := strings.Replace(pod, "serviceAccountName: s,", "serviceAccountName: s, automountServiceAccountToken: true,", 1)
	expect(t, messages(t, "service-account-token-automount", declared+sa("false"), model.Options{}))
}

func TestHardcodedCredentials(t *testing.T) {
	const awsKey = "AKIAIOSFODNN7EXAMPLE"
	pod := `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  containers:
    - name: c
      image: x
      env:
        - {name: S3_KEY, value: ` + awsKey + `}
        - {name: DB_PASSWORD_FILE, value: /run/secrets/db}
        - {name: TOKEN_TTL, value: "3600"}
        - {name: OAUTH_CLIENT_SECRET, value: "true"}
        - {name: ADMIN_PASSWORD, value: changeme}
        - {name: DATABASE_URL, value: "postgres://shop:s3cr3t@db.shop.svc:5432/shop"}
        - {name: CACHE_URL, value: "redis://:$(REDIS_PASSWORD)@redis:6379"}
        - {name: QUEUE_URL, value: "amqp://guest:****@mq"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: a}
data:
  tls.key: |
    -----BEGIN EC PRIVATE KEY-----
    MHcCAQEEIB
    -----END EC PRIVATE KEY-----
  api-token: ""
  broker: "kafka://user:p4ss@kafka-0.kafka:9092 and more"
  docs: "https://example.com/path?user=a"
`
	s := set(t, pod, model.Options{})
	fs := run(t, "secret-hardcoded-credential", s)
	var got []string
	for _, f := range fs {
		got = append(got, f.Field+": "+f.Message)
		if strings.Contains(f.Message, awsKey) || strings.Contains(f.Message, "changeme") || strings.Contains(f.Message, "MHcCAQEEIB") || strings.Contains(f.Message, "s3cr3t") {
			t.Errorf("a finding repeats the secret: %s", f.Message)
		}
	}
	expect(t, got,
		`spec.containers[0].env[0].value: container "c" sets env S3_KEY to a literal value, and it looks like an AWS access key ID`,
		`spec.containers[0].env[4].value: container "c" sets env ADMIN_PASSWORD to a literal value, and its name says it is a secret`,
		`spec.containers[0].env[5].value: container "c" sets env DATABASE_URL to a literal value, and it looks like a URL with a password`,
		`data.broker: ConfigMap "cm" key "broker" holds a literal value, and it looks like a URL with a password`,
		`data["tls.key"]: ConfigMap "cm" key "tls.key" holds a literal value, and it looks like a private key`)
	// The quoted key finds its line.
	if f := fs[4]; f.Source.Line != 22 {
		t.Errorf("tls.key at line %d, want 22", f.Source.Line)
	}
}

func TestExposureEdges(t *testing.T) {
	svc := func(extra string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: a\n" + extra + "spec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n"
	}
	expect(t, messages(t, "service-load-balancer-open", svc("  annotations: {service.beta.kubernetes.io/aws-load-balancer-internal: \"true\"}\n"), model.Options{}))
	expect(t, messages(t, "service-load-balancer-open", svc("  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: \"10.0.0.0/8, 0.0.0.0/0\"}\n"), model.Options{}),
		`Service "s" of type LoadBalancer allows source range 0.0.0.0/0: anyone can reach it`)
	ing := "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: a}\nspec:\n  tls: [{hosts: [\"*.example.com\"]}]\n  rules: [{host: a.example.com}, {host: a.b.example.com}]\n"
	expect(t, messages(t, "ingress-without-tls", ing, model.Options{}), `Ingress "i" serves a.b.example.com without TLS: no spec.tls entry lists it`)
}

func TestTrustedNodePoolAffinityAndTolerations(t *testing.T) {
	pool := kgpolicy.Settings{TrustedNodePools: []kgpolicy.NodePool{{Name: "secure", Namespaces: []string{"pay*"}, NodeLabels: map[string]string{"pool": "secure"},
		Taints: []kgpolicy.Taint{{Key: "dedicated", Value: "secure", Effect: "NoSchedule"}}}}}
	pod := `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: payments}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions: [{key: pool, operator: In, values: [secure]}]
  tolerations:
    - {key: dedicated, operator: Equal, value: secure, effect: NoSchedule}
    - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
    - {operator: Exists}
  containers: [{name: c, image: x}]
`
	expect(t, messages(t, "trusted-node-pool", pod, settings(pool)),
		`pod in namespace "payments" tolerates every taint, which is not a taint of trusted pool "secure"`)
	// A second term that does not pin the pool lets the pod run elsewhere.
	loose := strings.Replace(pod, "[secure]}]\n", "[secure]}]\n          - matchExpressions: [{key: zone, operator: In, values: [a]}]\n", 1)
	if got := messages(t, "trusted-node-pool", loose, settings(pool)); len(got) != 2 || !strings.Contains(got[0], "does not require the nodes") {
		t.Errorf("got %q", got)
	}
	expect(t, messages(t, "trusted-node-pool", strings.Replace(pod, "payments", "web", 1), settings(pool)))
}

func TestResourcesFromLimitRangeAndLimits(t *testing.T) {
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers: [{name: c, image: x, resources: {limits: {cpu: 1, memory: 1Gi}}}]\n  ephemeralContainers: [{name: debug, image: x}]\n"
	expect(t, messages(t, "container-resources", pod, model.Options{})) // requests default to limits
	bare := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {containers: [{name: c, image: x}]}\n"
	expect(t, messages(t, "container-resources", bare, model.Options{}), `container "c" sets no resources.requests.cpu, resources.requests.memory, resources.limits.memory`)
	lr := "---\napiVersion: v1\nkind: LimitRange\nmetadata: {name: l, namespace: a}\nspec:\n  limits: [{type: Container, default: {memory: 512Mi}, defaultRequest: {cpu: 100m}}]\n"
	expect(t, messages(t, "container-resources", bare+lr, model.Options{}))
	expect(t, messages(t, "container-resources", strings.Replace(bare, "namespace: a", "namespace: b", 1)+lr, model.Options{}),
		`container "c" sets no resources.requests.cpu, resources.requests.memory, resources.limits.memory`)
}

func TestImageReferences(t *testing.T) {
	pod := func(image string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {containers: [{name: c, image: \"" + image + "\", imagePullPolicy: Always}]}\n"
	}
	allowed := imagesPolicy(kgpolicy.Images{AllowedRegistries: []string{"docker.io/library/", "registry.local:5000"}, InsecureRegistries: []string{"registry.local:5000"}})
	expect(t, messages(t, "image-registry-not-allowed", pod("nginx:1.27"), allowed))
	expect(t, messages(t, "image-registry-not-allowed", pod("bitnami/redis:7"), allowed),
		`container "c": image "bitnami/redis:7" (docker.io/bitnami/redis) is outside images.allowedRegistries [docker.io/library/, registry.local:5000]`)
	expect(t, messages(t, "image-registry-not-allowed", pod("registry.local:50001/x:1"), allowed),
		`container "c": image "registry.local:50001/x:1" (registry.local:50001/x) is outside images.allowedRegistries [docker.io/library/, registry.local:5000]`)
	expect(t, messages(t, "image-registry-insecure", pod("registry.local:5000/team/app:1"), allowed),
		`container "c": image "registry.local:5000/team/app:1" is pulled from registry.local:5000, listed in images.insecureRegistries`)
	expect(t, messages(t, "image-not-pinned", pod("nginx"), model.Options{}), `container "c": image "nginx" has no tag, which means :latest`)
	expect(t, messages(t, "image-not-pinned", pod("Nginx::1"), model.Options{}), `container "c": image "Nginx::1" is not a valid image reference`)
	expect(t, messages(t, "image-not-pinned", pod("nginx:1.27"), imagesPolicy(kgpolicy.Images{RequireDigest: true})),
		`container "c": image "nginx:1.27" is referenced by tag, not by digest (images.requireDigest)`)
	expect(t, messages(t, "image-pull-policy", pod("nginx:1.27"), model.Options{}))
}

func TestMalformedObjectIsAnError(t *testing.T) {
	s := set(t, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\nspec: {externalIPs: 203.0.113.1}\n", model.Options{})
	if len(s.Errors) != 1 || !strings.Contains(s.Errors[0].Error(), `Service a/s: not a valid Service`) || len(s.Services) != 0 {
		t.Errorf("errors %v", s.Errors)
	}
}

// TestOneFactOneFinding: an Argo CD application-controller-shaped ClusterRole (every
// resource and every non-resource URL) bound to its ServiceAccount is one finding,
// rbac-cluster-admin at the binding, not two wildcards besides; a :latest image with
// imagePullPolicy IfNotPresent is image-not-pinned only.
func TestOneFactOneFinding(t *testing.T) {
	rbac := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: argocd-application-controller}
rules:
- apiGroups: ['*']
  resources: ['*']
  verbs: ['*']
- nonResourceURLs: ['*']
  verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: argocd-application-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: argocd-application-controller}
subjects:
- {kind: ServiceAccount, name: argocd-application-controller, namespace: argocd}
`
	rbacRules := func(id string) bool { return strings.HasPrefix(id, "rbac-") }
	got := Run(set(t, rbac, model.Options{}), rbacRules)
	if len(got) != 1 || got[0].RuleID != "rbac-cluster-admin" || got[0].Source.Line != 16 ||
		got[0].Message != `binds ClusterRole "argocd-application-controller", which grants everything like cluster-admin, to ServiceAccount argocd/argocd-application-controller` {
		t.Errorf("findings %+v", got)
	}
	// Unbound, the wildcards are the facts.
	unbound := strings.SplitN(rbac, "---\n", 2)[0]
	if got := Run(set(t, unbound, model.Options{}), rbacRules); len(got) != 2 || got[0].RuleID != "rbac-wildcard" {
		t.Errorf("unbound role: %+v", got)
	}

	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  containers:\n  - name: c\n    image: nginx:latest\n    imagePullPolicy: IfNotPresent\n"
	got = Run(set(t, pod, model.Options{}), func(id string) bool { return id == "image-not-pinned" || id == "image-pull-policy" })
	if len(got) != 1 || got[0].RuleID != "image-not-pinned" {
		t.Errorf(":latest with IfNotPresent: %+v", got)
	}
}

// TestSecretLiteralDataSkipsGenerated: a value the renderer generated (marked by a second
// render) is not a committed value; the others are still reported.
func TestSecretLiteralDataSkipsGenerated(t *testing.T) {
	s := set(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\ndata:\n  password: aHVudGVyMg==\n  username: YXBw\n", model.Options{})
	s.Objects[0].Generated = map[string]bool{"data.password": true}
	got := run(t, "secret-literal-data", s)
	if len(got) != 1 || got[0].Message != `Secret "db" has literal values in data (keys: username) committed with the manifest` {
		t.Errorf("findings %+v", got)
	}
	s.Objects[0].Generated["data.username"] = true
	if got := run(t, "secret-literal-data", s); len(got) != 0 {
		t.Errorf("every value generated, still reported: %+v", got)
	}
}

// TestWebhookPortNetworkPolicy: an ingress rule open only on an admission webhook's port
// (the API server matches no selector) is low, with an ipBlock as the fix; open on other
// ports too, it stays medium and says which port is the webhook's.
func TestWebhookPortNetworkPolicy(t *testing.T) {
	base := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: policy-webhook}
webhooks:
- name: validate.example.io
  clientConfig:
    service: {namespace: sec, name: webhook, port: 443}
---
apiVersion: v1
kind: Service
metadata: {name: webhook, namespace: sec}
spec:
  selector: {app: webhook}
  ports:
  - {name: https, port: 443, targetPort: 10250}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: webhook-ingress, namespace: sec}
spec:
  podSelector: {matchLabels: {app: webhook}}
  policyTypes: [Ingress]
  ingress:
  - ports: PORTS
`
	for ports, want := range map[string]string{
		"[{port: 10250}]":               `low: spec.ingress[0] has no from: it allows traffic from any source (on 10250); 10250 serves admission webhook "validate.example.io" (ValidatingWebhookConfiguration policy-webhook), which the API server calls from addresses no pod or namespace selector matches: allow only the control plane with an ipBlock`,
		"[{port: 10250}, {port: 9090}]": `medium: spec.ingress[0] has no from: it allows traffic from any source (on 10250, 9090); 10250 serves admission webhook "validate.example.io" (ValidatingWebhookConfiguration policy-webhook) (allow the control plane with an ipBlock), but the rule's other ports are open to everyone too`,
		"[{port: 8080}]":                `medium: spec.ingress[0] has no from: it allows traffic from any source (on 8080)`,
	} {
		got := run(t, "network-policy-allow-all", set(t, strings.Replace(base, "PORTS", ports, 1), model.Options{}))
		if len(got) != 1 || got[0].Severity.String()+": "+got[0].Message != want {
			t.Errorf("ports %s: %+v\nwant %s", ports, got, want)
		}
	}
}

// TestUserinfoURL: the cheap test before the URL pattern keeps every URL with a password
// and drops plain ones.
func TestUserinfoURL(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://shop:s3cr3t@db:5432/shop": true, "see https://a.example/x and amqp://u:p@mq": true,
		"https://grafana.example/d/abc?x=1": false, "mailto user@example.com": false, "https://user@host/": false,
	} {
		if got := userinfoURL(s); got != want {
			t.Errorf("userinfoURL(%q) = %v", s, got)
		}
	}
}
