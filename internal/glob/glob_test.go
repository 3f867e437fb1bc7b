package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"ghcr.io/acme/**", "ghcr.io/acme/a/b", true},
		{"ghcr.io/acme/*", "ghcr.io/acme/a/b", false},
		{"*/app/vuln", "127.0.0.1:5000/app/vuln", true},
		{"docker.io/library/nginx", "docker.io/library/nginx", true},
	} {
		if got := Match(tc.glob, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %t", tc.glob, tc.name, got)
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
