package cosign

import (
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func copyImage(src, dst name.Reference) error {
	img, err := remote.Image(src)
	if err != nil {
		return err
	}
	return remote.Write(dst, img)
}
