package rules

import "github.com/kubegate/kubegate/gate/finding"

// entry is a manifest rule with its check.
type entry struct {
	rule  *Rule
	check func(*Set) []Finding
}

// catalogue lists every manifest rule with its check: the one place that says which rules
// exist. Three families come from tables, one rule per row: the Pod Security controls
// (pss.go), the control-plane flags (controlplane.go) and the schema problems
// (schema.go). The image stage's rules are in images/rules.go, the node audit's in
// gate/node.
func catalogue() []entry {
	out := []entry{
		// API versions, schema and supported versions (000-1)
		{apiRemoved, checkRemovedAPIs},
		{apiDeprecated, checkDeprecatedAPIs},
		{unsupportedVersion, checkSupportedVersion},
		// Workloads (000-2, 002-4): Pod Security Standards below, then
		{readOnlyRoot, checkReadOnlyRoot},
		{containerResources, checkContainerResources},
		{trustedNodePool, checkTrustedNodePools},
		// Images named in the manifests (000-7)
		{imageNotPinned, refFindings(imageNotPinned)},
		{registryNotAllowed, refFindings(registryNotAllowed)},
		{insecureRegistry, refFindings(insecureRegistry)},
		{pullPolicy, checkPullPolicy},
		// Namespaces (000-3)
		{defaultNamespace, checkDefaultNamespace},
		{kubePrefixNamespace, checkKubePrefix},
		{namespacePSALabels, checkPSALabels},
		{systemNamespace, checkSystemNamespace},
		// NetworkPolicy (000-4)
		{defaultDeny, checkDefaultDeny},
		{allowAll, checkAllowAll},
		{podNotSelected, checkPodNotSelected},
		// RBAC and ServiceAccounts (002-1)
		{rbacWildcard, checkRBACWildcard},
		{rbacEscalationVerbs, checkEscalationVerbs},
		{rbacSensitiveSubresources, checkSensitiveSubresources},
		{rbacClusterSecretsRead, checkClusterSecretsRead},
		{rbacClusterAdmin, checkClusterAdmin},
		{rbacBroadSubject, checkBroadSubjects},
		{rbacCreatePods, checkCreatePods},
		{rbacDefaultServiceAccount, checkDefaultServiceAccountBinding},
		{tokenAutomount, checkTokenAutomount},
		// Secrets (002-2)
		{secretLiteralData, checkSecretLiteralData},
		{hardcodedCredential, checkHardcodedCredentials},
		{legacyTokenSecret, checkLegacyTokenSecrets},
		{tokenExpiration, checkTokenExpiration},
		{secretEnv, checkSecretEnv},
		// Exposure (002-3)
		{openLoadBalancer, checkOpenLoadBalancers},
		{nodePort, checkNodePorts},
		{externalIPs, checkExternalIPs},
		{ingressTLS, checkIngressTLS},
		{serviceSelectsNothing, checkServiceSelectors},
		// The control plane's and the API server's own configuration
		{etcdDistinctCA, checkEtcdCA},
		{kubeconfigPublic, checkKubeconfigs},
		{encryptionPlaintext, checkEncryptionPlaintext},
		{encryptionWeak, checkEncryptionWeak},
		{imagePolicyFailOpen, checkImagePolicyFailOpen},
		{auditSecretBodies, checkAuditSecretBodies},
	}
	out = append(out, pssEntries()...)
	out = append(out, flagEntries()...)
	return append(out, schemaEntries()...)
}

func init() {
	for _, e := range catalogue() {
		finding.Register(e.rule)
		checks[e.rule.ID] = e.check
	}
}
