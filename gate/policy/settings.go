package policy

import "github.com/kubegate/kubegate/gate/finding"

// Settings are the per-rule settings of the policy file (rules.settings in kubegate.yaml).
// Every field has a secure default; the policy package validates them.
type Settings struct {
	// NetworkPoliciesElsewhere names namespaces (globs) whose NetworkPolicies are managed
	// outside the rendered set, so network-policy-default-deny does not ask for them here.
	NetworkPoliciesElsewhere []string `yaml:"networkPoliciesElsewhere"`
	// MaxTokenExpirationSeconds is the longest lifetime allowed for a projected
	// ServiceAccount token; 0 means DefaultMaxTokenExpiration.
	MaxTokenExpirationSeconds int64 `yaml:"maxTokenExpirationSeconds"`
	// TrustedNodePools are node pools reserved for sensitive namespaces: workloads in those
	// namespaces must select the pool and tolerate only its taints.
	TrustedNodePools []NodePool `yaml:"trustedNodePools"`
	// RequireEphemeralStorageLimit makes container-resources ask for
	// resources.limits.ephemeral-storage too (a container filling the node's disk evicts
	// its neighbours). Off by default: many clusters cap it with a LimitRange instead.
	RequireEphemeralStorageLimit bool `yaml:"requireEphemeralStorageLimit"`
	// AdmissionPolicyActions remaps the severity of a ValidatingAdmissionPolicy finding by
	// its binding's validationActions (Deny, Warn, Audit); default Deny high, Warn low,
	// Audit info.
	AdmissionPolicyActions map[string]finding.Severity `yaml:"admissionPolicyActions"`
}

// DefaultMaxTokenExpiration is one day: the kubelet refreshes projected tokens long before.
const DefaultMaxTokenExpiration = 86400

// NodePool is a set of trusted nodes for some namespaces.
type NodePool struct {
	Name       string            `yaml:"name"`
	Namespaces []string          `yaml:"namespaces"` // globs
	NodeLabels map[string]string `yaml:"nodeLabels"` // labels every node of the pool carries
	Taints     []Taint           `yaml:"taints"`     // taints the pool's nodes carry
}

// Taint is a node taint; an empty Value matches any value.
type Taint struct {
	Key    string `yaml:"key"`
	Value  string `yaml:"value"`
	Effect string `yaml:"effect"` // NoSchedule, PreferNoSchedule or NoExecute
}

// Profile is the Pod Security Standards level the gate enforces.
type Profile string

const (
	ProfileBaseline   Profile = "baseline"
	ProfileRestricted Profile = "restricted"
)
