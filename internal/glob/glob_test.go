package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"ghcr.io/acme/**", "ghcr.io/acme/web", true},
		{"ghcr.io/acme/**", "ghcr.io/acme/team/web", true},
		{"ghcr.io/acme/**", "ghcr.io/acme-evil/web", false},
		{"ghcr.io/acme/*", "ghcr.io/acme/team/web", false},
		{"ghcr.io/acme/*", "ghcr.io/acme/web", true},
		{"docker.io/library/nginx", "docker.io/library/nginx", true},
		{"**", "registry.local:5000/x", true},
		{"*/app/vuln", "127.0.0.1:5000/app/vuln", true},
		{"ghcr.io/acme/we?", "ghcr.io/acme/web", true},
		{"ghcr.io/acme.io/**", "ghcr.io/acmexio/web", false}, // dots are literal
	} {
		if got := Match(tc.glob, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
}

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		glob, path string
		want       bool
	}{
		{"testdata", "deploy/testdata", true},
		{"testdata", "testdata", true},
		{"*.test.yaml", "deploy/app.test.yaml", true},
		{"*.test.yaml", "deploy/app.yaml", false},
		{"deploy/legacy", "deploy/legacy", true},
		{"deploy/legacy", "./deploy/legacy/", true},
		{"deploy/legacy", "other/deploy/legacy", false},
		{"**/vendor", "vendor", true},
		{"**/vendor", "a/b/vendor", true},
		{"charts/*/ci", "charts/redis/ci", true},
		{"charts/*/ci", "charts/redis/x/ci", false},
		{"charts/**/ci", "charts/redis/x/ci", true},
	} {
		if got := MatchPath(tc.glob, tc.path); got != tc.want {
			t.Errorf("MatchPath(%q, %q) = %t", tc.glob, tc.path, got)
		}
	}
}
