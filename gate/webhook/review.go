// Package webhook is kubegate's ImagePolicyWebhook backend: it answers the API server's
// ImageReviews (imagepolicy.k8s.io/v1alpha1) with the policy check enforces in CI — the
// reference checks (pinned, allowed and secure registries) and the image stage (resolve,
// verify signatures, scan) — so that what CI enforced is what the cluster admits. It fails
// closed: an image it could not check, an internal error or a review that runs out of time
// is a denial.
package webhook

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	imagepolicy "k8s.io/api/imagepolicy/v1alpha1"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/internal/parallel"
)

// DefaultTimeout answers well inside the API server's 30-second webhook client timeout.
const DefaultTimeout = 20 * time.Second

// ruleError names denials for an image that could not be checked at all (timeout,
// internal error) in Decision.Rules.
const ruleError = "webhook-error"

// checkTimeout bounds one image check that goes on after its review timed out, so that
// its verdict is cached for the next review.
const checkTimeout = 5 * time.Minute

// DefaultMaxImages is how many distinct images one review may name: a pod has a few
// containers; thousands are an attempt to make the webhook flood the registries.
const DefaultMaxImages = 100

// ruleTooMany names the denial of a review naming more images than MaxImages.
const ruleTooMany = "webhook-too-many-images"

// Reviewer decides image reviews under the policy.
type Reviewer struct {
	Policy  *policy.Policy
	Checker *images.Checker // its Parallel also bounds the images of one review checked at once
	Timeout time.Duration   // per review; DefaultTimeout when 0
	// MaxImages denies, unchecked, a review naming more distinct images; DefaultMaxImages when 0.
	MaxImages int
	Now       func() time.Time

	flight singleflight.Group // one check per image at a time, shared by concurrent reviews
}

// Decision is the answer to one review.
type Decision struct {
	Allowed bool
	Reason  string   // the failed checks, for the API server's error message
	Rules   []string // the rules that denied, sorted (for audit annotations and metrics)
	// Warnings are findings below failOn: reported in the log, not denied.
	Warnings []string
}

// Review decides one ImageReview. Findings at or above the policy's failOn deny, and so
// does every image that could not be checked, whatever its severity: the backend fails
// closed. The pod's annotations are not read: whoever creates the pod sets them.
func (r *Reviewer) Review(ctx context.Context, spec imagepolicy.ImageReviewSpec) Decision {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}

	var refs []string
	for _, c := range spec.Containers {
		if !slices.Contains(refs, c.Image) {
			refs = append(refs, c.Image)
		}
	}
	var d Decision
	if limit := cmp.Or(r.MaxImages, DefaultMaxImages); len(refs) > limit {
		d.Rules = []string{ruleTooMany}
		d.Reason = fmt.Sprintf("kubegate: the review names %d images, more than the %d a review may (webhook serve --max-review-images)", len(refs), limit)
		return d
	}
	var denied []string
	var problems []images.Problem
	var toCheck []string
	refPolicy := &r.Policy.Images
	for _, ref := range refs {
		var refDenied bool
		for _, p := range rules.RefProblems(refPolicy, ref) {
			problems = append(problems, images.Problem{RuleID: p.Rule.ID, Severity: p.Rule.Severity, Message: p.Message})
			f, ok := r.judge(images.Problem{RuleID: p.Rule.ID, Severity: p.Rule.Severity}, spec.Namespace, now)
			refDenied = refDenied || (ok && finding.Fails(f, r.Policy.FailOn))
		}
		if !refDenied { // else no need to fetch it from a registry the policy refuses
			toCheck = append(toCheck, ref)
		}
	}
	// The images of a pod are checked side by side (as many at once as --parallel): the
	// review has one deadline.
	found := make([][]images.Problem, len(toCheck))
	errs := make([]error, len(toCheck))
	parallel.ForN(r.Checker.Concurrency(), len(toCheck), func(i int) { found[i], errs[i] = r.check(ctx, toCheck[i]) })
	for i := range toCheck {
		if errs[i] != nil { // not a finding: no policy setting admits an image that was not checked
			denied = append(denied, errs[i].Error())
			d.Rules = append(d.Rules, ruleError)
			continue
		}
		for _, p := range found[i] {
			// The review names no securityContext, so whether a root image runs as root is
			// not known here: Pod Security Admission's runAsNonRoot decides that in-cluster.
			if !p.RootUser {
				problems = append(problems, p)
			}
		}
	}

	for _, p := range problems {
		f, ok := r.judge(p, spec.Namespace, now)
		switch {
		case !ok:
		case finding.Fails(f, r.Policy.FailOn):
			denied = append(denied, fmt.Sprintf("%s: %s", p.RuleID, p.Message))
			d.Rules = append(d.Rules, p.RuleID)
		default:
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s (%s): %s", p.RuleID, f.Severity, p.Message))
		}
	}
	slices.Sort(d.Rules)
	d.Rules = slices.Compact(d.Rules)
	d.Allowed = len(denied) == 0
	if !d.Allowed {
		d.Reason = "kubegate: " + summarize(denied)
	}
	return d
}

// judge applies the policy (disabled rules, severity overrides, exemptions) to a finding
// of a pod in the namespace; the review names nothing else of the pod.
func (r *Reviewer) judge(p images.Problem, namespace string, now time.Time) (finding.Finding, bool) {
	return r.Policy.Judge(finding.Finding{RuleID: p.RuleID, Severity: p.Severity, FailClosed: p.Unchecked(),
		Object: manifest.Ref{APIVersion: "v1", Kind: "Pod", Namespace: namespace}}, now)
}

// maxReasons keeps the reason readable in `kubectl describe` and events.
const maxReasons = 5

func summarize(reasons []string) string {
	if len(reasons) <= maxReasons {
		return strings.Join(reasons, "; ")
	}
	return strings.Join(reasons[:maxReasons], "; ") + fmt.Sprintf("; and %d more", len(reasons)-maxReasons)
}

// check runs the image stage on one reference, sharing a running check of the same
// reference. The check goes on when the review gives up, so its verdict is cached for
// the API server's next review; the review answers by its deadline.
func (r *Reviewer) check(ctx context.Context, ref string) ([]images.Problem, error) {
	im, err := images.NewImage(ref)
	if err != nil {
		return nil, nil // reported by the reference checks (image-not-pinned)
	}
	ch := r.flight.DoChan(ref, func() (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error checking image %s: %v", ref, p)
			}
		}()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
		defer cancel()
		return r.Checker.Check(cctx, []*images.Image{im})[0].Problems, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]images.Problem), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("image %s: not checked within %s; the check goes on and the next review uses its result", ref, r.timeout())
	}
}

func (r *Reviewer) timeout() time.Duration {
	if r.Timeout <= 0 {
		return DefaultTimeout
	}
	return r.Timeout
}
