package gate

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
)

// The hardened application of testdata/hardened passes every rule; injecting one defect
// produces exactly the finding of the rule that guards against it, with the message a
// user sees, at the line of the defect.

const hardenedApp = "../testdata/hardened/app.yaml"

func checkText(t *testing.T, text, policyExtra string) *Result {
	t.Helper()
	p, err := policy.Parse([]byte("apiVersion: kubegate.dev/v1alpha1\nkind: Policy\n"+policyExtra), "kubegate.yaml", rules.Catalogue())
	if err != nil {
		t.Fatal(err)
	}
	var objs []*manifest.Object
	for _, d := range manifest.Decode([]byte(text), manifest.Source{File: "app.yaml"}) {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		objs = append(objs, d.Objects...)
	}
	return Check(objs, Options{Policy: p, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
}

func readHardened(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(hardenedApp)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestHardenedAppHasNoFindings(t *testing.T) {
	app := readHardened(t)
	for name, pol := range map[string]string{
		"default policy": "",
		"strict policy": "failOn: info\nimages:\n  allowedRegistries: [ghcr.io/acme/]\n  requireDigest: true\n" +
			"rules:\n  settings:\n    maxTokenExpirationSeconds: 3600\n",
	} {
		res := checkText(t, app, pol)
		if len(res.Findings) != 0 || len(res.Errors) != 0 || res.ExitCode() != 0 {
			t.Errorf("%s: findings %+v errors %v", name, res.Findings, res.Errors)
		}
		if res.Objects != 12 {
			t.Errorf("%s: %d objects, want 12", name, res.Objects)
		}
	}
}

type edit struct{ from, to string }

type defect struct {
	rule   string
	edits  []edit // applied in order; each "from" must occur
	add    string // an extra document
	policy string // extra policy lines
	msg    string // the finding's message
	at     string // the finding is on the first line containing this, after the edits
}

var deploymentSpec = "    spec:\n      serviceAccountName: web\n"

var defects = []defect{
	{rule: "network-policy-pod-not-selected", policy: "rules:\n  disable: [network-policy-default-deny]\n",
		edits: []edit{{"  podSelector: {}\n  policyTypes: [Ingress, Egress]\n", "  podSelector: {}\n  policyTypes: [Egress]\n"},
			{"      app: web\n  policyTypes: [Ingress]\n", "      app: api\n  policyTypes: [Ingress]\n"}},
		msg: `no NetworkPolicy of namespace "shop" selects these pods (labels app=web) for Ingress (they accept connections from anywhere)`, at: "      labels:\n        app: web"},
	{rule: "service-selects-no-pod", edits: []edit{{"  selector:\n    app: web\n  ports:", "  selector:\n    app: wbe\n  ports:"}},
		msg: `Service "web" selects app=wbe, which no pod template of namespace "shop" carries`, at: "  selector:\n    app: wbe"},
	// API schema: a typo in a field name drops what is under it; an unknown kind or version
	// is rejected; a number where a string belongs is rejected.
	{rule: "schema-unknown-field", edits: []edit{{"  LOG_LEVEL: info\n", "  LOG_LEVEL: info\nmetdata:\n  labels: {app: web}\n"}},
		msg: `unknown field "metdata": the API server drops it silently`, at: "metdata:"},
	{rule: "schema-invalid-value", edits: []edit{{"  LOG_LEVEL: info\n", "  LOG_LEVEL: info\n  WORKERS: 4\n"}},
		msg: "data.WORKERS: expected string, got 4", at: "WORKERS: 4"},
	{rule: "schema-unknown-kind", add: "apiVersion: v1\nkind: ConfigMapp\nmetadata:\n  name: extra\n  namespace: shop\n",
		msg: `v1 has no kind "ConfigMapp" (did you mean ConfigMap?)`, at: "kind: ConfigMapp"},
	{rule: "schema-unknown-api-version", add: "apiVersion: rbac.authorization.k8s.io/v2\nkind: Role\nmetadata:\n  name: extra\n  namespace: shop\n",
		msg: `apiVersion "rbac.authorization.k8s.io/v2" does not exist: group rbac.authorization.k8s.io is served as rbac.authorization.k8s.io/v1 (alpha, off by default: rbac.authorization.k8s.io/v1alpha1)`, at: "apiVersion: rbac.authorization.k8s.io/v2"},
	{rule: "api-removed", edits: []edit{{"apiVersion: autoscaling/v2\n", "apiVersion: autoscaling/v2beta2\n"}},
		msg: "autoscaling/v2beta2 HorizontalPodAutoscaler is not served by Kubernetes 1.37: removed in 1.26 (use autoscaling/v2)",
		at:  "apiVersion: autoscaling/v2beta2"},
	{rule: "api-deprecated", add: "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: legacy\n  namespace: shop\nsubsets: []\n",
		msg: "v1 Endpoints is deprecated since 1.33 and not scheduled for removal (use discovery.k8s.io/v1 EndpointSlice)",
		at:  "apiVersion: v1\nkind: Endpoints"},
	{rule: "workload-default-namespace", edits: []edit{{"  name: web\n  namespace: shop\n  labels:\n    app: web\n", "  name: web\n  labels:\n    app: web\n"}},
		policy: "rules:\n  settings:\n    networkPoliciesElsewhere: [\"\"]\n",
		msg:    `has no namespace: it lands wherever it is applied, usually "default"`,
		at:     "metadata:\n  name: web\n  labels:\n    app: web\n"},
	{rule: "namespace-kube-prefix", add: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-tools\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n",
		msg: `namespace "kube-tools" uses the kube- prefix reserved for Kubernetes system namespaces`,
		at:  "name: kube-tools"},
	{rule: "namespace-pod-security-labels", edits: []edit{{"enforce: restricted", "enforce: baseline"}},
		msg: `namespace "shop" enforces baseline, weaker than the policy's restricted profile`,
		at:  "  labels:\n    pod-security.kubernetes.io/enforce: baseline"},
	{rule: "workload-system-namespace", edits: []edit{{"  name: web\n  namespace: shop\n  labels:\n", "  name: web\n  namespace: kube-system\n  labels:\n"}},
		policy: "rules:\n  settings:\n    networkPoliciesElsewhere: [kube-system]\n",
		msg:    `is deployed to "kube-system", the namespace of the cluster's own components`,
		at:     "namespace: kube-system"},
	{rule: "network-policy-default-deny", edits: []edit{{"  name: default-deny\n", "  name: default-deny\n  labels: {}\n"}, {"  podSelector: {}\n  policyTypes: [Ingress, Egress]\n", "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress, Egress]\n"}},
		msg: `namespace "shop" has no NetworkPolicy with podSelector: {} for Ingress`,
		at:  "  name: shop"},
	{rule: "network-policy-allow-all", edits: []edit{{"          podSelector:\n            matchLabels:\n              app.kubernetes.io/name: ingress-nginx\n", ""}, {"        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: ingress-nginx\n", "        - namespaceSelector: {}\n"}},
		msg: "spec.ingress[0].from[0] has namespaceSelector: {} and no podSelector: it matches every pod of every namespace (on 8080/TCP)",
		at:  "namespaceSelector: {}"},
	{rule: "rbac-wildcard", edits: []edit{{"verbs: [get, watch]", `verbs: ["*"]`}},
		msg: `rules[0] grants "*" in verbs`, at: "  - apiGroups: [\"\"]\n    resources: [configmaps]"},
	{rule: "rbac-escalation-verbs", edits: []edit{{"    verbs: [get, watch]\n", "    verbs: [get, watch]\n  - apiGroups: [rbac.authorization.k8s.io]\n    resources: [roles]\n    verbs: [escalate, bind]\n"}},
		msg: "rules[1] grants bind, escalate on roles", at: "  - apiGroups: [rbac.authorization.k8s.io]"},
	{rule: "rbac-sensitive-subresources", edits: []edit{{"    verbs: [get, watch]\n", "    verbs: [get, watch]\n  - apiGroups: [\"\"]\n    resources: [pods/exec]\n    verbs: [create]\n"}},
		msg: "rules[1] grants create pods/exec", at: "  - apiGroups: [\"\"]\n    resources: [pods/exec]"},
	{rule: "rbac-cluster-secrets-read", add: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: secret-reader\nrules:\n  - apiGroups: [\"\"]\n    resources: [secrets]\n    verbs: [get, list]\n",
		msg: "rules[0] grants get, list on secrets in every namespace, and nothing in the checked files binds it to a namespace",
		at:  "  - apiGroups: [\"\"]\n    resources: [secrets]"},
	{rule: "rbac-cluster-admin", add: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: web-admin\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n  - kind: ServiceAccount\n    name: web\n    namespace: shop\n",
		msg: "binds cluster-admin to ServiceAccount shop/web", at: "  - kind: ServiceAccount\n    name: web\n"},
	{rule: "rbac-broad-subject", edits: []edit{{"  - kind: ServiceAccount\n    name: web\n    namespace: shop\n", "  - kind: Group\n    apiGroup: rbac.authorization.k8s.io\n    name: system:authenticated\n"}},
		msg: `binds Role "web-config-reader" to Group system:authenticated (every account of the cluster)`,
		at:  "  - kind: Group"},
	{rule: "rbac-create-pods", add: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: pod-launcher\nrules:\n  - apiGroups: [\"\"]\n    resources: [pods]\n    verbs: [create]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: pod-launcher\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: pod-launcher\nsubjects:\n  - kind: ServiceAccount\n    name: launcher\n    namespace: shop\n",
		msg: `lets ServiceAccount shop/launcher create pods in every namespace (through ClusterRole "pod-launcher")`,
		at:  "  - kind: ServiceAccount\n    name: launcher"},
	{rule: "rbac-default-service-account", edits: []edit{{"  - kind: ServiceAccount\n    name: web\n", "  - kind: ServiceAccount\n    name: default\n"}},
		msg: `binds Role "web-config-reader" to ServiceAccount shop/default, which every pod of the namespace without a serviceAccountName uses`,
		at:  "  - kind: ServiceAccount\n    name: default"},
	{rule: "service-account-token-automount", edits: []edit{{"      automountServiceAccountToken: false\n", ""}, {"automountServiceAccountToken: false\n", "automountServiceAccountToken: true\n"}},
		msg: `pod mounts an API token of ServiceAccount "web" (neither the pod nor the ServiceAccount sets automountServiceAccountToken: false)`,
		at:  deploymentSpec},
	{rule: "secret-literal-data", add: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  username: shop\n  password: hunter2hunter2\n",
		msg: `Secret "db" has literal values in stringData (keys: password, username) committed with the manifest`,
		at:  "stringData:"},
	{rule: "secret-hardcoded-credential", edits: []edit{{"  LOG_LEVEL: info\n", "  LOG_LEVEL: info\n  PAYMENT_API_TOKEN: tok-3b31c9aa77\n"}},
		msg: `ConfigMap "web-config" key "PAYMENT_API_TOKEN" holds a literal value, and its name says it is a secret`,
		at:  "PAYMENT_API_TOKEN"},
	{rule: "secret-legacy-service-account-token", add: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-token\n  namespace: shop\n  annotations:\n    kubernetes.io/service-account.name: web\ntype: kubernetes.io/service-account-token\n",
		msg: `Secret "web-token" is a non-expiring token of ServiceAccount "web" (type kubernetes.io/service-account-token)`,
		at:  "type: kubernetes.io/service-account-token"},
	{rule: "projected-token-expiration", edits: []edit{{"expirationSeconds: 3600", "expirationSeconds: 172800"}},
		msg: `volume "api-token" projects a ServiceAccount token valid for 172800s, more than the allowed 86400s`,
		at:  "expirationSeconds: 172800"},
	{rule: "secret-env-var", edits: []edit{{"          envFrom:\n", "          env:\n            - name: DB_PASSWORD\n              valueFrom:\n                secretKeyRef: {name: db, key: password}\n          envFrom:\n"}},
		msg: `container "web" reads key "password" of Secret "db" into env DB_PASSWORD`,
		at:  "              valueFrom:"},
	{rule: "service-load-balancer-open", edits: []edit{{"type: ClusterIP", "type: LoadBalancer"}},
		msg: `Service "web" of type LoadBalancer has no loadBalancerSourceRanges: anyone can reach it`,
		at:  "type: LoadBalancer"},
	{rule: "service-node-port", edits: []edit{{"type: ClusterIP", "type: NodePort"}},
		msg: `Service "web" of type NodePort opens its ports on every node`, at: "type: NodePort"},
	{rule: "service-external-ips", edits: []edit{{"  type: ClusterIP\n", "  type: ClusterIP\n  externalIPs: [203.0.113.10]\n"}},
		msg: `Service "web" sets externalIPs 203.0.113.10`, at: "externalIPs"},
	{rule: "ingress-without-tls", edits: []edit{{"  rules:\n    - host: shop.example.com\n", "  rules:\n    - host: admin.shop.example.com\n      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}]}\n    - host: shop.example.com\n"}},
		msg: `Ingress "web" serves admin.shop.example.com without TLS: no spec.tls entry lists it`,
		at:  "  tls:"},
	{rule: "trusted-node-pool", policy: "rules:\n  settings:\n    trustedNodePools:\n      - name: payments\n        namespaces: [shop]\n        nodeLabels: {pool: payments}\n",
		msg: `pod in namespace "shop" does not require the nodes of trusted pool "payments" (pool=payments)`,
		at:  deploymentSpec},
	{rule: "image-not-pinned", edits: []edit{{"ghcr.io/acme/web:1.4.2@sha256:3b3128d2e7f4e8a1b5b0d9c4b2f6a7e8c9d0a1b2c3d4e5f60718293a4b5c6d7e", "ghcr.io/acme/web:latest"}},
		msg: `container "web": image "ghcr.io/acme/web:latest" uses the mutable :latest tag`, at: "image: ghcr.io/acme/web:latest"},
	{rule: "image-registry-not-allowed", policy: "images:\n  allowedRegistries: [registry.acme.internal/]\n",
		msg: `container "web": image "ghcr.io/acme/web:1.4.2@sha256:3b3128d2e7f4e8a1b5b0d9c4b2f6a7e8c9d0a1b2c3d4e5f60718293a4b5c6d7e" (ghcr.io/acme/web) is outside images.allowedRegistries [registry.acme.internal/]`,
		at:  "image: ghcr.io"},
	{rule: "image-registry-insecure", policy: "images:\n  insecureRegistries: [ghcr.io]\n",
		msg: `container "web": image "ghcr.io/acme/web:1.4.2@sha256:3b3128d2e7f4e8a1b5b0d9c4b2f6a7e8c9d0a1b2c3d4e5f60718293a4b5c6d7e" is pulled from ghcr.io, listed in images.insecureRegistries`,
		at:  "image: ghcr.io"},
	{rule: "image-pull-policy", edits: []edit{{"@sha256:3b3128d2e7f4e8a1b5b0d9c4b2f6a7e8c9d0a1b2c3d4e5f60718293a4b5c6d7e", ""}},
		msg: `container "web" runs tagged image "ghcr.io/acme/web:1.4.2" with imagePullPolicy IfNotPresent (the default for a tagged image): a node may run a stale cached copy`,
		at:  "image: ghcr.io"},
	{rule: "container-resources", edits: []edit{{"            limits:\n              memory: 256Mi\n", ""}},
		msg: `container "web" sets no resources.limits.memory`, at: "          resources:"},
	{rule: "read-only-root-filesystem", edits: []edit{{"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"}},
		msg: `container "web" sets securityContext.readOnlyRootFilesystem=false`, at: "readOnlyRootFilesystem: false"},
	{rule: "pss-privileged", edits: []edit{{"            allowPrivilegeEscalation: false\n", "            allowPrivilegeEscalation: false\n            privileged: true\n"}},
		msg: `privileged (container "web" must not set securityContext.privileged=true)`, at: "privileged: true"},
	{rule: "pss-host-namespaces", edits: []edit{{deploymentSpec, deploymentSpec + "      hostNetwork: true\n"}},
		msg: "host namespaces (hostNetwork=true)", at: "hostNetwork: true"},
	{rule: "pss-run-as-non-root", edits: []edit{{"        runAsNonRoot: true\n", ""}},
		msg: `runAsNonRoot != true (pod or container "web" must set securityContext.runAsNonRoot=true)`, at: "      securityContext:\n        runAsUser"},
}

func TestHardenedAppDefects(t *testing.T) { testDefects(t, readHardened(t), defects) }

// testDefects applies each defect to base and checks that it yields exactly its finding.
func testDefects(t *testing.T, base string, table []defect) {
	for _, d := range table {
		t.Run(d.rule, func(t *testing.T) {
			text := base
			for _, e := range d.edits {
				if !strings.Contains(text, e.from) {
					t.Fatalf("edit: %q not in the app", e.from)
				}
				text = strings.Replace(text, e.from, e.to, 1)
			}
			if d.add != "" {
				text += "---\n" + d.add
			}
			res := checkText(t, text, d.policy)
			if len(res.Errors) > 0 {
				t.Fatalf("errors: %v", res.Errors)
			}
			if len(res.Findings) != 1 {
				t.Fatalf("want exactly one finding of %s, got %d:\n%s", d.rule, len(res.Findings), findingsText(res.Findings))
			}
			f := res.Findings[0]
			if f.RuleID != d.rule || f.Message != d.msg {
				t.Errorf("got %s: %q\nwant %s: %q", f.RuleID, f.Message, d.rule, d.msg)
			}
			i := strings.LastIndex(text, d.at) // the last: added documents come last
			if i < 0 {
				t.Fatalf("at: %q not in the text", d.at)
			}
			if want := strings.Count(text[:i], "\n") + 1; f.Source.Line != want {
				t.Errorf("finding at line %d, want %d (%q)", f.Source.Line, want, d.at)
			}
			if res.ExitCode() != 1 && f.Severity >= finding.Medium {
				t.Errorf("exit %d for a %s finding", res.ExitCode(), f.Severity)
			}
		})
	}
}

// TestEveryRuleHasADefect keeps the tables complete: every rule (all but the Pod Security
// controls, covered by TestPSSParity, the exemption bookkeeping rules, and the node file
// rules, covered by gate/node's insecure and correct trees) has its injected defect in the
// hardened-app or the hardened-control-plane table.
func TestEveryRuleHasADefect(t *testing.T) {
	all := slices.Concat(defects, controlPlaneDefects, kubeadmDefects, generatedDefects)
	for _, r := range rules.Catalogue().All() {
		if strings.HasPrefix(r.ID, "pss-") || strings.HasPrefix(r.ID, "exemption-") || strings.HasPrefix(r.ID, "node-file-") ||
			slices.Contains(rules.ImageStage, r) { // the image stage's, tested against a registry in images
			continue
		}
		if !slices.ContainsFunc(all, func(d defect) bool { return d.rule == r.ID }) {
			t.Errorf("rule %s has no defect in the hardened-app, control-plane or generated-config table", r.ID)
		}
	}
}

func findingsText(fs []finding.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.Source.String() + " " + f.RuleID + " " + f.Object.String() + ": " + f.Message + "\n")
	}
	return b.String()
}
