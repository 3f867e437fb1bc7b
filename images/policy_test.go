package images

import (
	"testing"

	"github.com/kubegate/kubegate/gate/policy"
)

func TestMatchRuleFirstWinsThenDefault(t *testing.T) {
	rules := []policy.ImageRule{{Match: []string{"ghcr.io/acme/web"}}, {Match: []string{"ghcr.io/acme/**"}}}
	if r := MatchRule(rules, nil, "ghcr.io/acme/web"); r != &rules[0] {
		t.Errorf("first match does not win")
	}
	if r := MatchRule(rules, nil, "ghcr.io/acme/db"); r != &rules[1] {
		t.Errorf("second rule not matched")
	}
	if r := MatchRule(rules, nil, "docker.io/library/redis"); r != &DefaultRule || r.Vulnerabilities.FailOn != "critical" || r.Signature != nil {
		t.Errorf("unmatched image does not get the documented default")
	}
	def := &policy.ImageRule{}
	if r := MatchRule(rules, def, "docker.io/library/redis"); r != def {
		t.Errorf("the policy's defaultRule is not used")
	}
}

// TestPolicyOf: the image stage's view of the policy carries its rules and the platforms
// parsed.
func TestPolicyOf(t *testing.T) {
	p := &policy.Policy{Images: policy.Images{
		Rules:     []policy.ImageRule{{Match: []string{"ghcr.io/acme/**"}}},
		Platforms: []string{"linux/s390x"}, AllowStaleDB: true,
	}}
	ip := PolicyOf(p)
	if len(ip.Rules) != 1 || len(ip.Platforms) != 1 || ip.Platforms[0].OS != "linux" || ip.Platforms[0].Architecture != "s390x" || !ip.AllowStaleDB {
		t.Errorf("PolicyOf: %+v", ip)
	}
}
