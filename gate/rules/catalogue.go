package rules

import (
	"slices"
	"strings"
	"sync"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/node"
	"github.com/kubegate/kubegate/gate/policy"
)

// Scopes: the kinds of object a check reads. A check runs only when the set holds one;
// TestScopesAreTrue runs every check on just its kinds and expects the same findings.
var (
	anyKind      = []string{"*"}
	workloads    = manifest.WorkloadKinds() // the kinds the model reads pod templates from
	namespaces   = []string{"Namespace"}
	services     = []string{"Service"}
	rbacObjects  = []string{"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
	bindings     = []string{"RoleBinding", "ClusterRoleBinding"}
	secrets      = []string{"Secret"}
	controlPlane = model.ComponentKinds
)

// kinds joins scopes.
func kinds(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// catalogue lists every rule: the one place that says which rules exist. A manifest rule
// comes with its scope and its check. Three families come from tables, one rule per row:
// the Pod Security controls (pss.go), the control-plane flags (controlplane.go) and the
// schema problems (schema.go). The rules of the other stages (images, the node audit,
// the policy's own bookkeeping) have no check here: their stage reports them.
func catalogue() []entry {
	out := []entry{
		// API versions, schema and supported versions (000-1)
		{apiRemoved, anyKind, checkRemovedAPIs},
		{apiDeprecated, anyKind, checkDeprecatedAPIs},
		{unsupportedVersion, controlPlane, checkSupportedVersion},
		// Workloads (000-2, 002-4): Pod Security Standards below, then
		{readOnlyRoot, workloads, checkReadOnlyRoot},
		{containerResources, kinds(workloads, []string{"LimitRange"}), checkContainerResources},
		{trustedNodePool, workloads, checkTrustedNodePools},
		// Images named in the manifests (000-7)
		{imageNotPinned, workloads, refFindings(imageNotPinned)},
		{registryNotAllowed, workloads, refFindings(registryNotAllowed)},
		{ImageRegistryInsecure, workloads, refFindings(ImageRegistryInsecure)},
		{pullPolicy, workloads, checkPullPolicy},
		// Namespaces (000-3)
		{defaultNamespace, workloads, checkDefaultNamespace},
		{kubePrefixNamespace, namespaces, checkKubePrefix},
		{namespacePSALabels, namespaces, checkPSALabels},
		{systemNamespace, workloads, checkSystemNamespace},
		// NetworkPolicy (000-4)
		{defaultDeny, kinds(workloads, namespaces, []string{"NetworkPolicy"}), checkDefaultDeny},
		{allowAll, []string{"NetworkPolicy"}, checkAllowAll},
		{podNotSelected, kinds(workloads, []string{"NetworkPolicy"}), checkPodNotSelected},
		// RBAC and ServiceAccounts (002-1)
		{rbacWildcard, rbacObjects, checkRBACWildcard},
		{rbacEscalationVerbs, rbacObjects, checkEscalationVerbs},
		{rbacSensitiveSubresources, rbacObjects, checkSensitiveSubresources},
		{rbacClusterSecretsRead, rbacObjects, checkClusterSecretsRead},
		{rbacClusterAdmin, bindings, checkClusterAdmin},
		{rbacBroadSubject, bindings, checkBroadSubjects},
		{rbacCreatePods, rbacObjects, checkCreatePods},
		{rbacDefaultServiceAccount, bindings, checkDefaultServiceAccountBinding},
		{tokenAutomount, kinds(workloads, []string{"ServiceAccount"}), checkTokenAutomount},
		// Secrets (002-2)
		{secretLiteralData, secrets, checkSecretLiteralData},
		{hardcodedCredential, kinds(workloads, []string{"ConfigMap"}), checkHardcodedCredentials},
		{legacyTokenSecret, secrets, checkLegacyTokenSecrets},
		{tokenExpiration, workloads, checkTokenExpiration},
		{secretEnv, workloads, checkSecretEnv},
		// Exposure (002-3)
		{openLoadBalancer, services, checkOpenLoadBalancers},
		{nodePort, services, checkNodePorts},
		{externalIPs, services, checkExternalIPs},
		{ingressTLS, []string{"Ingress"}, checkIngressTLS},
		{serviceSelectsNothing, kinds(services, workloads), checkServiceSelectors},
		// The control plane's and the API server's own configuration
		{etcdDistinctCA, controlPlane, checkEtcdCA},
		{kubeconfigPublic, []string{"Config"}, checkKubeconfigs},
		{encryptionPlaintext, []string{"EncryptionConfiguration"}, checkEncryptionPlaintext},
		{encryptionWeak, []string{"EncryptionConfiguration"}, checkEncryptionWeak},
		{imagePolicyFailOpen, []string{"AdmissionConfiguration"}, checkImagePolicyFailOpen},
		{auditSecretBodies, []string{"Policy"}, checkAuditSecretBodies},
		// Reported by the node audit (kubegate node)
		{rule: node.FilePermissions}, {rule: node.FileOwnership},
		// Reported by the policy (exemptions)
		{rule: policy.RuleExemptionExpired}, {rule: policy.RuleExemptionUnused}, {rule: policy.RuleExemptionInvalid},
	}
	for _, r := range ImageStage { // reported by the image stage (package images)
		out = append(out, entry{rule: r})
	}
	out = append(out, pssEntries()...)
	out = append(out, flagEntries()...)
	return append(out, schemaEntries()...)
}

// built is the catalogue, indexed once.
var built = sync.OnceValue(func() struct {
	entries []entry
	rules   *finding.Catalogue
} {
	entries := catalogue()
	// Checks run, and their findings are gathered, in rule ID order.
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.rule.ID, b.rule.ID) })
	list := make([]*Rule, len(entries))
	for i, e := range entries {
		list[i] = e.rule
	}
	c, err := finding.NewCatalogue(list)
	if err != nil {
		panic(err) // a programming error: TestCatalogue catches it first
	}
	return struct {
		entries []entry
		rules   *finding.Catalogue
	}{entries, c}
})

// Catalogue is every rule of every stage, by ID.
func Catalogue() *finding.Catalogue { return built().rules }

// Lookup returns the rule with the given ID.
func Lookup(id string) (*Rule, bool) { return built().rules.Get(id) }
