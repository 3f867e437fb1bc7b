package trivy

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/images"
)

// image is the resolved platform image as Trivy's image type: the image is read from the
// registry the resolver already reached, so it is neither resolved nor authenticated twice.
type image struct {
	v1.Image
	pi   images.PlatformImage
	name string
}

func (i image) Name() string { return i.name }
func (i image) ID() (string, error) {
	h, err := i.Image.ConfigName()
	return h.String(), err
}
func (i image) RepoTags() []string    { return nil }
func (i image) RepoDigests() []string { return []string{i.name + "@" + i.pi.Digest.String()} }
