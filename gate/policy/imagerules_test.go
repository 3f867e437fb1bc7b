package policy

import "testing"

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, repo string
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
		if got := GlobMatch(tc.glob, tc.repo); got != tc.want {
			t.Errorf("GlobMatch(%q, %q) = %v, want %v", tc.glob, tc.repo, got, tc.want)
		}
	}
}
