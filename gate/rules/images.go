package rules

// Images as written in the manifests (practices 000-5 and 002-5), with no network: every
// image is pinned (a digest, or at least not :latest), comes from an allowed registry and
// not from one known to be insecure, and is pulled fresh when its tag can move. What the
// registry says about the image (signatures, vulnerabilities, its user) is the image
// stage's work.

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

const imagesDocs = "https://kubernetes.io/docs/concepts/containers/images/"

var (
	imageNotPinned = &Rule{
		ID: "image-not-pinned", Title: "Image not pinned", Severity: Medium,
		Practices: []string{"000-5", "002-5"},
		Refs:      []string{imagesDocs + "#image-names", "CIS 5.5.1"},
		Fix:       "Reference the image by digest (name:tag@sha256:…), or at least by a version tag, never :latest.",
		Doc: "An image with no tag or the :latest tag runs whatever was pushed last, so what was " +
			"reviewed and scanned is not what runs. With images.requireDigest: true in the policy, " +
			"every image must carry a digest. A reference that does not parse is reported too.",
	}
	registryNotAllowed = &Rule{
		ID: "image-registry-not-allowed", Title: "Image from a registry outside the allowed list", Severity: High,
		Practices: []string{"000-5", "002-5"},
		Refs:      []string{"https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#imagepolicywebhook"},
		Fix:       "Mirror the image into an allowed registry, or add its registry to images.allowedRegistries.",
		Doc: "When the policy lists images.allowedRegistries (reference prefixes such as ghcr.io/acme/ " +
			"or registry.example.com), every image must match one. Docker Hub images are matched as " +
			"docker.io/library/nginx, docker.io/bitnami/redis, ….",
	}
	insecureRegistry = &Rule{
		ID: "image-registry-insecure", Title: "Image from an insecure registry", Severity: High,
		Practices: []string{"000-5", "002-5"},
		Refs:      []string{imagesDocs},
		Fix:       "Serve the registry over TLS with a trusted certificate and remove it from images.insecureRegistries.",
		Doc: "Registries listed in images.insecureRegistries are reached over plain HTTP or without " +
			"verifying their certificate: anyone on the path can swap the image.",
	}
	pullPolicy = &Rule{
		ID: "image-pull-policy", Title: "Mutable image not pulled every time", Severity: Low,
		Practices: []string{"000-5"},
		Refs:      []string{imagesDocs + "#image-pull-policy", "https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#alwayspullimages"},
		Fix:       "Pin the image by digest, or set imagePullPolicy: Always.",
		Doc: "An image referenced by tag with imagePullPolicy IfNotPresent (the default for a tag " +
			"other than :latest) or Never runs whatever copy the node has cached: possibly a stale " +
			"one, or one pulled with another workload's credentials.",
	}
)

func init() {
	imageNotPinned.Check = checkImagePinned
	registryNotAllowed.Check = checkAllowedRegistries
	insecureRegistry.Check = checkInsecureRegistries
	pullPolicy.Check = checkPullPolicy
	for _, r := range []*Rule{imageNotPinned, registryNotAllowed, insecureRegistry, pullPolicy} {
		Register(r)
	}
}

// image is a parsed container image reference.
type image struct {
	repo     string // canonical repository: docker.io/library/nginx, ghcr.io/acme/web
	digested bool
	tag      string // "" when none was written
}

func parseImage(s string) (image, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return image{}, err
	}
	im := image{repo: CanonicalRepo(ref)}
	switch r := ref.(type) {
	case name.Digest:
		im.digested = true
	case name.Tag:
		// name defaults a missing tag to latest; what was written matters here.
		if strings.HasSuffix(s, ":"+r.TagStr()) {
			im.tag = r.TagStr()
		}
	}
	return im, nil
}

// Repo is the canonical repository: docker.io/library/nginx, ghcr.io/acme/web.
func (im image) Repo() string { return im.repo }

// Digested reports whether the reference pins a digest.
func (im image) Digested() bool { return im.digested }

// CanonicalRepo names a reference's repository the way policies match it: Docker Hub
// images as docker.io/library/nginx (go-containerregistry says index.docker.io).
func CanonicalRepo(ref name.Reference) string {
	repo := ref.Context().Name()
	if rest, ok := strings.CutPrefix(repo, name.DefaultRegistry+"/"); ok {
		repo = "docker.io/" + rest
	}
	return repo
}

// eachImage calls f for every container whose image parses, of the workload pods and, with
// staticToo, of the control-plane static Pods.
func eachImage(s *Set, staticToo bool, f func(p *Pod, c PodContainer, im image)) {
	pods := s.Pods
	if staticToo {
		pods = s.allPods()
	}
	for _, p := range pods {
		for _, c := range p.Containers {
			if c.RefErr == nil {
				f(p, c, c.Ref)
			}
		}
	}
}

func checkImagePinned(s *Set) []Finding {
	var out []Finding
	for _, p := range s.allPods() {
		for _, c := range p.Containers {
			im := c.Ref
			var msg string
			switch {
			case c.RefErr != nil:
				msg = fmt.Sprintf("container %q has image %q, which is not a valid image reference", c.Name, c.Image)
			case im.digested:
				continue
			case im.tag == "":
				msg = fmt.Sprintf("container %q uses image %q with no tag, which means :latest", c.Name, c.Image)
			case im.tag == "latest":
				msg = fmt.Sprintf("container %q uses image %q with the mutable :latest tag", c.Name, c.Image)
			case s.Images.RequireDigest:
				msg = fmt.Sprintf("container %q uses image %q by tag, not by digest (images.requireDigest)", c.Name, c.Image)
			default:
				continue
			}
			out = append(out, imageNotPinned.At(p.Object, c.Path+".image", c.Name, msg))
		}
	}
	return out
}

// hasPrefix matches a canonical repository against a prefix from the policy: a prefix
// ending in "/" matches by string, any other matches itself or what lies below it, so
// that "registry.local:5000" matches neither "registry.local:50001/x" nor "ghcr.io/acme-x".
func hasPrefix(repo, prefix string) bool {
	prefix = strings.TrimPrefix(prefix, name.DefaultRegistry+"/")
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(repo, prefix)
	}
	return repo == prefix || strings.HasPrefix(repo, prefix+"/")
}

func matchesAny(repo string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if hasPrefix(repo, p) {
			return p, true
		}
	}
	return "", false
}

func checkAllowedRegistries(s *Set) []Finding {
	allowed := s.Images.AllowedRegistries
	if len(allowed) == 0 {
		return nil
	}
	var out []Finding
	eachImage(s, true, func(p *Pod, c PodContainer, im image) {
		if _, ok := matchesAny(im.repo, allowed); !ok {
			out = append(out, registryNotAllowed.At(p.Object, c.Path+".image", c.Name,
				fmt.Sprintf("container %q uses image %q (%s), outside images.allowedRegistries [%s]", c.Name, c.Image, im.repo, strings.Join(allowed, ", "))))
		}
	})
	return out
}

func checkInsecureRegistries(s *Set) []Finding {
	var out []Finding
	eachImage(s, true, func(p *Pod, c PodContainer, im image) {
		if reg, ok := matchesAny(im.repo, s.Images.InsecureRegistries); ok {
			out = append(out, insecureRegistry.At(p.Object, c.Path+".image", c.Name,
				fmt.Sprintf("container %q pulls image %q from %s, listed in images.insecureRegistries", c.Name, c.Image, reg)))
		}
	})
	return out
}

func checkPullPolicy(s *Set) []Finding {
	var out []Finding
	// Not for static Pods: with Always, a control plane could not restart without its registry.
	eachImage(s, false, func(p *Pod, c PodContainer, im image) {
		if im.digested {
			return
		}
		policy, how, field := c.ImagePullPolicy, "", c.Path+".imagePullPolicy"
		if policy == "" {
			if im.tag == "" || im.tag == "latest" {
				return // the API server defaults these to Always
			}
			policy, how, field = corev1.PullIfNotPresent, " (the default for a tagged image)", c.Path+".image"
		}
		if policy == corev1.PullAlways {
			return
		}
		out = append(out, pullPolicy.At(p.Object, field, c.Name,
			fmt.Sprintf("container %q runs tagged image %q with imagePullPolicy %s%s: a node may run a stale cached copy", c.Name, c.Image, policy, how)))
	})
	return out
}
