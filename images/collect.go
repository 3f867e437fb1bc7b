// Package images is the image side of the gate: it collects every image the manifests
// use, checks each distinct image once — resolve (registry), verify (cosign), scan (Trivy),
// look inside (the image's user) — concurrently and with a bound, and turns what it
// learns into findings at the image: line of every container that uses the image. It
// fails closed: an image it could not check is a finding, never a pass.
package images

import (
	"cmp"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
)

// Image is one distinct image reference and the containers that use it.
type Image struct {
	Ref      string // as written
	Repo     string // canonical repository, docker.io/library/nginx: what images.rules match
	Digested bool   // the reference pins a digest
	Uses     []Use
}

// NewImage is the image of one reference, used by no container of a manifest (an admission
// review names only images).
func NewImage(ref string) (*Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	_, digested := r.(name.Digest)
	return &Image{Ref: ref, Repo: model.CanonicalRepo(r), Digested: digested}, nil
}

// Use is one container's use of an image.
type Use struct {
	Object    *manifest.Object
	Container string
	Field     string // path of the image field, for its line
	// NonRootUser: the pod or container sets a non-zero runAsUser, so the image's user does
	// not matter.
	NonRootUser bool
	// RunAsNonRoot: runAsNonRoot: true with no runAsUser: an image whose user is root does
	// not start (the kubelet refuses it), which the image stage alone can tell.
	RunAsNonRoot bool
	// Windows: the pod runs on Windows nodes, where the image's user is not a Linux UID.
	Windows bool
}

// Workload names the object and container, for tables.
func (u Use) Workload() string { return u.Object.Ref().String() + "/" + u.Container }

// Collect lists the distinct images of every container (init, regular, ephemeral) of every
// pod template and static Pod in the set, sorted by reference. References that do not
// parse are left to the image-not-pinned rule.
func Collect(set *model.Set) []*Image {
	byRef := map[string]*Image{}
	for _, p := range set.AllPods() {
		for _, c := range p.Containers {
			if c.RefErr != nil || c.Image == "" {
				continue
			}
			im := byRef[c.Image]
			if im == nil {
				im = &Image{Ref: c.Image, Repo: c.Ref.Repo, Digested: c.Ref.Digested}
				byRef[c.Image] = im
			}
			user, nonRoot := runAs(p.Spec, c.Container)
			im.Uses = append(im.Uses, Use{Object: p.Object, Container: c.Name, Field: c.Path + ".image",
				NonRootUser: user != nil && *user != 0, RunAsNonRoot: user == nil && nonRoot, Windows: p.Windows()})
		}
	}
	out := make([]*Image, 0, len(byRef))
	for _, im := range byRef {
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b *Image) int { return cmp.Compare(a.Ref, b.Ref) })
	return out
}

// runAs returns the container's effective runAsUser and runAsNonRoot: the container's
// settings override the pod's, as the kubelet applies them.
func runAs(spec *corev1.PodSpec, c *corev1.Container) (user *int64, nonRoot bool) {
	var runAsNonRoot *bool
	if sc := spec.SecurityContext; sc != nil {
		runAsNonRoot, user = sc.RunAsNonRoot, sc.RunAsUser
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			runAsNonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			user = sc.RunAsUser
		}
	}
	return user, runAsNonRoot != nil && *runAsNonRoot
}
