package generate

import (
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/apis/audit/validation"
	auditpolicy "k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// TestAuditPolicyLevels loads the policy with the API server's reader and asks its rule
// evaluator what each kind of request is recorded at.
func TestAuditPolicyLevels(t *testing.T) {
	data, change := GenerateAuditPolicy()
	p, err := auditpolicy.LoadPolicyFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if errs := validation.ValidatePolicy(p); len(errs) > 0 {
		t.Fatal(errs)
	}
	eval := auditpolicy.NewPolicyRuleEvaluator(p)
	admin := &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}
	res := func(u user.Info, verb, group, resource, sub, ns string) authorizer.Attributes {
		return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, ResourceRequest: true}
	}
	for _, c := range []struct {
		name  string
		attrs authorizer.Attributes
		want  audit.Level
	}{
		{"read a secret", res(admin, "get", "", "secrets", "", "shop"), audit.LevelMetadata},
		{"write a secret", res(admin, "update", "", "secrets", "", "shop"), audit.LevelMetadata},
		{"list configmaps", res(admin, "list", "", "configmaps", "", "shop"), audit.LevelMetadata},
		{"request a token", res(admin, "create", "", "serviceaccounts", "token", "shop"), audit.LevelMetadata},
		{"review a token", res(admin, "create", "authentication.k8s.io", "tokenreviews", "", ""), audit.LevelMetadata},
		{"bind a role", res(admin, "create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""), audit.LevelRequestResponse},
		{"change a webhook", res(admin, "patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", ""), audit.LevelRequestResponse},
		{"read roles", res(admin, "list", "rbac.authorization.k8s.io", "roles", "", "shop"), audit.LevelMetadata},
		{"exec into a pod", res(admin, "create", "", "pods", "exec", "shop"), audit.LevelMetadata},
		{"update a deployment", res(admin, "update", "apps", "deployments", "", "shop"), audit.LevelRequest},
		{"read pods", res(admin, "get", "", "pods", "", "shop"), audit.LevelMetadata},
		{"kube-proxy watches", res(&user.DefaultInfo{Name: "system:kube-proxy"}, "watch", "discovery.k8s.io", "endpointslices", "", ""), audit.LevelNone},
		{"a node polls itself", res(&user.DefaultInfo{Name: "system:node:n1", Groups: []string{"system:nodes"}}, "get", "", "nodes", "", ""), audit.LevelNone},
		{"a node changes a secret", res(&user.DefaultInfo{Name: "system:node:n1", Groups: []string{"system:nodes"}}, "update", "", "secrets", "", "shop"), audit.LevelMetadata},
		{"leader election", res(&user.DefaultInfo{Name: "system:kube-scheduler"}, "update", "coordination.k8s.io", "leases", "", "kube-system"), audit.LevelNone},
		{"health check", authorizer.AttributesRecord{User: admin, Verb: "get", Path: "/readyz"}, audit.LevelNone},
	} {
		if got := eval.EvaluatePolicyRule(c.attrs).Level; got != c.want {
			t.Errorf("%s: level %s, want %s", c.name, got, c.want)
		}
	}
	for _, s := range []string{"--audit-policy-file=/etc/kubernetes/audit/policy.yaml", "--audit-log-path=/var/log/kubernetes/audit/audit.log", "--audit-log-maxage=30", "--audit-log-maxbackup=10", "--audit-log-maxsize=100"} {
		if !strings.Contains(strings.Join(change.Args(), " "), s) {
			t.Errorf("flags %v lack %s", change.Args(), s)
		}
	}
	if len(p.OmitStages) != 1 || p.OmitStages[0] != audit.StageRequestReceived {
		t.Errorf("omitStages = %v", p.OmitStages)
	}
}
