package model

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Image is a parsed container image reference.
type Image struct {
	Repo     string // canonical repository: docker.io/library/nginx, ghcr.io/acme/web
	Digested bool   // the reference pins a digest
	Tag      string // "" when none was written
}

// ParseImage parses a reference as written in a manifest.
func ParseImage(s string) (Image, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return Image{}, err
	}
	im := Image{Repo: CanonicalRepo(ref)}
	switch r := ref.(type) {
	case name.Digest:
		im.Digested = true
	case name.Tag:
		// name defaults a missing tag to latest; what was written matters here.
		if strings.HasSuffix(s, ":"+r.TagStr()) {
			im.Tag = r.TagStr()
		}
	}
	return im, nil
}

// CanonicalRepo names a reference's repository the way policies match it: Docker Hub
// images as docker.io/library/nginx (go-containerregistry says index.docker.io).
func CanonicalRepo(ref name.Reference) string {
	repo := ref.Context().Name()
	if rest, ok := strings.CutPrefix(repo, name.DefaultRegistry+"/"); ok {
		repo = "docker.io/" + rest
	}
	return repo
}
