package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/cosign"
)

// attestVerdicts signs a verdict attestation for every image of the run whose image checks
// all passed and were made by this run, and attaches it to the image. Not one whose
// verdict came from an attestation, nor from the verdict cache: the run that made it
// attested it, and an attestation per run would pile up in the registry (one per image
// and DB version at most, this way). An attestation that cannot be written is a note: the
// gate's verdict stands, and the next run checks the image in full.
func attestVerdicts(ctx context.Context, a *cosign.Attester, res *gate.Result) {
	now := time.Now()
	written, cached := 0, 0
	var failed []string
	for _, v := range res.Images {
		if !v.Passed() {
			continue
		}
		if v.Cached {
			cached++
			continue
		}
		err := attestOne(ctx, a, v, now)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", v.Image.Ref, err))
			continue
		}
		written++
	}
	note := fmt.Sprintf("verdict attestations: %d written", written)
	if cached > 0 {
		note += fmt.Sprintf(" (%d from the verdict cache, attested when they were made)", cached)
	}
	if len(failed) > 0 {
		note += fmt.Sprintf("; %d not: %s", len(failed), strings.Join(failed, "; "))
	}
	res.Notes = append(res.Notes, note)
}

func attestOne(ctx context.Context, a *cosign.Attester, v *images.Verdict, now time.Time) error {
	digest, err := v1.NewHash(v.Digest)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(v.Image.Ref, name.WeakValidation)
	if err != nil {
		return err
	}
	stmt, err := images.Statement(ref.Context().Digest(v.Digest), images.VerdictPredicateType, v.Predicate(version, now))
	if err != nil {
		return err
	}
	return a.Attest(ctx, v.Image.Ref, digest, images.VerdictPredicateType, stmt)
}
