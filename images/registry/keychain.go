package registry

import (
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain is the Docker config (docker login, credential helpers) and then the
// credentials CI systems put in the environment: GitLab's CI_REGISTRY_USER and
// CI_REGISTRY_PASSWORD for CI_REGISTRY, and GITHUB_TOKEN (with GITHUB_ACTOR) for ghcr.io.
func Keychain() authn.Keychain {
	return authn.NewMultiKeychain(authn.DefaultKeychain, envKeychain{getenv: os.Getenv})
}

type envKeychain struct{ getenv func(string) string }

func (k envKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	reg := r.RegistryStr()
	if host := k.getenv("CI_REGISTRY"); host != "" && host == reg {
		if u, p := k.getenv("CI_REGISTRY_USER"), k.getenv("CI_REGISTRY_PASSWORD"); u != "" && p != "" {
			return &authn.Basic{Username: u, Password: p}, nil
		}
	}
	if reg == "ghcr.io" {
		if t := k.getenv("GITHUB_TOKEN"); t != "" {
			user := k.getenv("GITHUB_ACTOR")
			if user == "" {
				user = "token"
			}
			return &authn.Basic{Username: user, Password: t}, nil
		}
	}
	return authn.Anonymous, nil
}
