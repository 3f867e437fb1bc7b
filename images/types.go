package images

import (
	"context"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/gate/policy"
)

// Platform is an OS/architecture pair of a multi-arch image, "linux/amd64".
type Platform = v1.Platform

// Resolved is what the registry says about one image reference.
type Resolved struct {
	Ref    string  // the reference as written in the manifests
	Digest v1.Hash // what the reference points at: an index or a manifest
	// Platforms are the platform images checked: one for a single-platform image, those
	// the policy names (and the index has) for a multi-arch one.
	Platforms []PlatformImage
	// PlainHTTP names the registry host when it was reached over plain HTTP and is not a
	// loopback address.
	PlainHTTP string
}

// PlatformImage is one image of a (possibly multi-arch) reference.
type PlatformImage struct {
	Platform Platform
	Digest   v1.Hash
	Config   *v1.ConfigFile
	Image    v1.Image // layers are fetched lazily, only when a scanner reads them
}

// Resolver turns an image reference into digests and configs.
type Resolver interface {
	Resolve(ctx context.Context, ref string, platforms []Platform) (*Resolved, error)
}

// Verifier checks signatures and attestations of a resolved image under one rule.
type Verifier interface {
	Verify(ctx context.Context, ref string, digest v1.Hash, rule *policy.SignatureRule, attestations []policy.AttestationRule) (*Verification, error)
	// Trust fingerprints what verifying under the rule depends on besides the image: the
	// content of its keys and trusted root. Verdicts are cached under it; an error (a key
	// that cannot be read) means nothing is cached.
	Trust(rule *policy.SignatureRule) (string, error)
}

// Verification is what a successful verification found.
type Verification struct {
	SignedBy     []string // "key keys/cosign.pub", "keyless https://github.com/acme/… (https://token.actions…)"
	Attestations []string // predicate types verified
}

// Scanner finds the vulnerabilities of one platform image.
type Scanner interface {
	Scan(ctx context.Context, name string, img PlatformImage) (*ScanReport, error)
	// DB describes the vulnerability database the scanner reads; a new DB version
	// invalidates cached reports.
	DB() DBInfo
}

// DBInfo is the vulnerability database's identity and age.
type DBInfo struct {
	Version   string    // changes with every update: a cache key part
	UpdatedAt time.Time // when the DB was built
}

// ScanReport is what a scan found in one platform image.
type ScanReport struct {
	OS              string // "alpine 3.19.1", "" when unknown
	EndOfLife       bool   // the OS release gets no more security fixes
	Vulnerabilities []Vulnerability
}

// Vulnerability is one vulnerable package in an image.
type Vulnerability struct {
	ID        string
	Package   string
	Installed string
	Fixed     string // "" when no fix is released
	Severity  string // CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN
	Title     string
}
