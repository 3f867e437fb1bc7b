package registry

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestEnvKeychain(t *testing.T) {
	env := map[string]string{
		"CI_REGISTRY": "registry.gitlab.example", "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "s3cret",
		"GITHUB_TOKEN": "ghs_x", "GITHUB_ACTOR": "octocat",
	}
	k := envKeychain{getenv: func(v string) string { return env[v] }}
	for reg, want := range map[string]authn.AuthConfig{
		"registry.gitlab.example": {Username: "gitlab-ci-token", Password: "s3cret"},
		"ghcr.io":                 {Username: "octocat", Password: "ghs_x"},
		"docker.io":               {},
	} {
		r, _ := name.NewRegistry(reg)
		a, err := k.Resolve(r)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := a.Authorization()
		if *got != want {
			t.Errorf("%s: %+v, want %+v", reg, *got, want)
		}
	}
}
