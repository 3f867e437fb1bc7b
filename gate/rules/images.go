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
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/policy"
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
	ImageRegistryInsecure = &Rule{
		ID: "image-registry-insecure", Title: "Image from an insecure registry", Severity: High,
		Practices: []string{"000-5", "002-5"},
		Refs:      []string{imagesDocs},
		Fix:       "Serve the registry over TLS with a trusted certificate and remove it from images.insecureRegistries.",
		Doc: "Registries listed in images.insecureRegistries are reached over plain HTTP or without " +
			"verifying their certificate: anyone on the path can swap the image. The image stage also " +
			"reports a registry it reached over plain HTTP without it being listed (go-containerregistry " +
			"falls back to http for private-range addresses); only loopback addresses and " +
			"localhost names may serve plain HTTP unreported.",
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

// RefProblem is what the image policy finds wrong with an image reference by itself: what
// check reports at an image: line and what the admission webhook denies.
type RefProblem struct {
	Rule    *Rule
	Message string // names the image, not a container
}

// RefProblems judges one image reference as written: pinned, from an allowed registry, not
// from an insecure one.
func RefProblems(p *policy.Images, ref string) []RefProblem {
	im, err := model.ParseImage(ref)
	return refProblems(p, ref, im, err)
}

func refProblems(p *policy.Images, ref string, im model.Image, parseErr error) []RefProblem {
	var out []RefProblem
	add := func(r *Rule, format string, args ...any) {
		out = append(out, RefProblem{Rule: r, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case parseErr != nil:
		add(imageNotPinned, "image %q is not a valid image reference", ref)
		return out
	case im.Digested:
	case im.Tag == "":
		add(imageNotPinned, "image %q has no tag, which means :latest", ref)
	case im.Tag == "latest":
		add(imageNotPinned, "image %q uses the mutable :latest tag", ref)
	case p.RequireDigest:
		add(imageNotPinned, "image %q is referenced by tag, not by digest (images.requireDigest)", ref)
	}
	if len(p.AllowedRegistries) > 0 {
		if _, ok := matchesAny(im.Repo, p.AllowedRegistries); !ok {
			add(registryNotAllowed, "image %q (%s) is outside images.allowedRegistries [%s]", ref, im.Repo, strings.Join(p.AllowedRegistries, ", "))
		}
	}
	if reg, ok := matchesAny(im.Repo, p.InsecureRegistries); ok {
		add(ImageRegistryInsecure, "image %q is pulled from %s, listed in images.insecureRegistries", ref, reg)
	}
	return out
}

// refFindings reports rule r's reference problems on every container of the workloads and
// the static Pods.
func refFindings(r *Rule) func(*model.Set) []Finding {
	return func(s *model.Set) []Finding {
		var out []Finding
		for _, p := range s.AllPods() {
			for _, c := range p.Containers {
				for _, pr := range refProblems(&s.Policy.Images, c.Image, c.Ref, c.RefErr) {
					if pr.Rule == r {
						out = append(out, r.At(p.Object, c.Path+".image", c.Name, fmt.Sprintf("container %q: %s", c.Name, pr.Message)))
					}
				}
			}
		}
		return out
	}
}

func checkPullPolicy(s *model.Set) []Finding {
	var out []Finding
	// Not for static Pods: with Always, a control plane could not restart without its registry.
	for _, p := range s.Pods {
		for _, c := range p.Containers {
			if c.RefErr == nil && !c.Ref.Digested {
				if f, ok := pullPolicyFinding(p, c); ok {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// pullPolicyFinding judges the pull policy of a container running a tagged image.
func pullPolicyFinding(p *model.Pod, c model.PodContainer) (Finding, bool) {
	policy, how, field := c.ImagePullPolicy, "", c.Path+".imagePullPolicy"
	if c.Ref.Tag == "" || c.Ref.Tag == "latest" {
		// Unset, the API server defaults these to Always; set otherwise, the mutable tag is
		// the fact, image-not-pinned's: one finding, not two.
		return Finding{}, false
	}
	if policy == "" {
		policy, how, field = corev1.PullIfNotPresent, " (the default for a tagged image)", c.Path+".image"
	}
	if policy == corev1.PullAlways {
		return Finding{}, false
	}
	return pullPolicy.At(p.Object, field, c.Name,
		fmt.Sprintf("container %q runs tagged image %q with imagePullPolicy %s%s: a node may run a stale cached copy", c.Name, c.Image, policy, how)), true
}
