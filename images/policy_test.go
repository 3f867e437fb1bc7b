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
