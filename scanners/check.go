package scanners

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/internal/parallel"
)

// Policy is the images section's part that needs the network.
type Policy struct {
	Rules        []Rule
	DefaultRule  *Rule      // nil: DefaultRule
	Platforms    []Platform // of multi-arch images; nil: the resolver's default
	AllowStaleDB bool
}

// StaleAfter is how old a vulnerability DB may be before scans with it are findings.
const StaleAfter = 7 * 24 * time.Hour

// Checker checks images. Resolver is required; Verifier is needed only when a rule asks
// for signatures; without a Scanner every image is a not-scanned finding.
type Checker struct {
	Resolver Resolver
	Verifier Verifier
	Scanner  Scanner
	// DigestOf reads only the digest a reference points at (a HEAD request): with Cache,
	// an image whose digest was checked before under the same rule and DB is not resolved,
	// verified or scanned again. Optional.
	DigestOf func(ctx context.Context, ref string) (string, error)
	Cache    *Cache
	Policy   Policy
	Parallel int       // images checked at once; default DefaultParallel()
	Progress io.Writer // nil: no progress line
	Now      time.Time
}

// Verdict is what the checker learned about one image.
type Verdict struct {
	Image     *Image         `json:"-"`
	Digest    string         `json:"digest,omitempty"`
	Platforms []Platform     `json:"platforms,omitempty"`
	Users     []string       `json:"users,omitempty"` // the config's User per platform ("" = root)
	OS        string         `json:"os,omitempty"`
	SignedBy  []string       `json:"signedBy,omitempty"`
	Attested  []string       `json:"attested,omitempty"`
	Counts    map[string]int `json:"counts,omitempty"` // every vulnerability found, by severity
	Problems  []Problem      `json:"problems,omitempty"`
	Cached    bool           `json:"-"`
}

// Problem is one reason an image fails, before it is attached to the containers using it.
type Problem struct {
	RuleID   string         `json:"rule"`
	Severity rules.Severity `json:"severity"`
	Message  string         `json:"message"`
	// RootUser problems apply only to containers that do not force a non-root user.
	RootUser bool `json:"rootUser,omitempty"`
}

// Check checks every image, at most Parallel at a time, and returns their verdicts in the
// order of images.
func (c *Checker) Check(ctx context.Context, images []*Image) []*Verdict {
	n := c.Parallel
	if n <= 0 {
		n = DefaultParallel()
	}
	out := make([]*Verdict, len(images))
	var done atomic.Int32
	var mu sync.Mutex
	progress := func() {
		if c.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(c.Progress, "\rimages: %d/%d checked", done.Load(), len(images))
		if int(done.Load()) == len(images) {
			fmt.Fprintln(c.Progress)
		}
	}
	progress()
	parallel.ForN(n, len(images), func(i int) {
		out[i] = c.checkOne(ctx, images[i])
		done.Add(1)
		progress()
	})
	return out
}

func (c *Checker) now() time.Time {
	if c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

func (c *Checker) checkOne(ctx context.Context, im *Image) (v *Verdict) {
	rule := MatchRule(c.Policy.Rules, c.Policy.DefaultRule, im.Repo)
	var db DBInfo
	if c.Scanner != nil {
		db = c.Scanner.DB()
	}
	key := func(digest string) string { return cacheKey(im.Ref, digest, rule, db, c.Policy) }
	if c.Cache != nil && c.DigestOf != nil {
		if d, err := c.DigestOf(ctx, im.Ref); err == nil {
			if cached, ok := c.Cache.Get(key(d)); ok {
				cached.Image, cached.Cached = im, true
				return cached
			}
		}
	}
	v = &Verdict{Image: im}
	defer func() {
		if c.Cache != nil && v.Digest != "" && cacheable(v) {
			c.Cache.Put(key(v.Digest), v)
		}
	}()
	res, err := c.Resolver.Resolve(ctx, im.Ref, c.Policy.Platforms)
	if err != nil {
		if im.Digested && errors.Is(err, ErrNotFound) {
			v.problem(ruleDigestGone, "image %s: the registry no longer serves the pinned digest: %v", im.Ref, err)
		} else {
			v.problem(ruleUnresolved, "image %s could not be resolved: %v", im.Ref, err)
		}
		return v
	}
	v.Digest = res.Digest.String()
	var rootOn []string // "digest, platform" of the platform images that run as root
	rootUser := ""
	for _, p := range res.Platforms {
		v.Platforms = append(v.Platforms, p.Platform)
		user := ""
		if p.Config != nil {
			user = p.Config.Config.User
		}
		v.Users = append(v.Users, user)
		if runsAsRoot(user) {
			rootOn, rootUser = append(rootOn, p.Digest.String()+", "+p.Platform.String()), user
		}
	}
	if len(rootOn) > 0 { // one problem for the image, however many of its platforms
		v.Problems = append(v.Problems, Problem{RuleID: ruleRunsAsRoot.ID, Severity: ruleRunsAsRoot.Severity, RootUser: true,
			Message: fmt.Sprintf("image %s (%s) runs as root (config User %q) and the pod sets neither runAsNonRoot: true nor a non-zero runAsUser", im.Ref, strings.Join(rootOn, "; "), rootUser)})
	}
	if rule.Signature != nil || len(rule.Attestations) > 0 {
		c.verify(ctx, v, res, rule)
	}
	c.scan(ctx, v, res, rule)
	return v
}

func (c *Checker) verify(ctx context.Context, v *Verdict, res *Resolved, rule *Rule) {
	if c.Verifier == nil {
		v.problem(ruleUnverified, "image %s@%s: no signature verifier is configured", v.Image.Ref, res.Digest)
		return
	}
	ver, err := c.Verifier.Verify(ctx, v.Image.Ref, res.Digest, rule.Signature, rule.Attestations)
	if err != nil {
		v.problem(ruleUnverified, "image %s@%s is not verified: %v", v.Image.Ref, res.Digest, err)
		return
	}
	v.SignedBy, v.Attested = ver.SignedBy, ver.Attestations
}

func (c *Checker) scan(ctx context.Context, v *Verdict, res *Resolved, rule *Rule) {
	if c.Scanner == nil {
		v.problem(ruleNotScanned, "image %s@%s was not scanned: no vulnerability scanner is configured", v.Image.Ref, res.Digest)
		return
	}
	vr := rule.Vulnerabilities
	if vr == nil {
		vr = DefaultRule.Vulnerabilities
	}
	threshold, off := thresholdOf(vr.FailOn)
	seen := map[string]bool{}
	v.Counts = map[string]int{}
	scanned := false
	defer func() {
		// Judged after scanning: a DB that could not be opened makes the scans fail instead.
		if db := c.Scanner.DB(); scanned && !c.Policy.AllowStaleDB && c.now().Sub(db.UpdatedAt) > StaleAfter {
			v.problem(ruleStaleDB, "image %s@%s was scanned with a vulnerability DB built %s (older than 7 days)", v.Image.Ref, res.Digest, db.UpdatedAt.UTC().Format(time.DateOnly))
		}
	}()
	for _, p := range res.Platforms {
		rep, err := c.Scanner.Scan(ctx, v.Image.Ref, p)
		if err != nil {
			v.problem(ruleNotScanned, "image %s (%s, %s) could not be scanned: %v", v.Image.Ref, p.Digest, p.Platform.String(), err)
			continue
		}
		scanned = true
		if v.OS == "" {
			v.OS = rep.OS
		}
		if rep.EndOfLife && !slices.ContainsFunc(v.Problems, func(p Problem) bool { return p.RuleID == ruleEndOfLife.ID }) {
			v.problem(ruleEndOfLife, "image %s (%s, %s) is based on %s, which is end of life: no more security fixes", v.Image.Ref, p.Digest, p.Platform.String(), rep.OS)
		}
		for _, vu := range rep.Vulnerabilities {
			k := vu.ID + "\x00" + vu.Package + "\x00" + vu.Installed
			if seen[k] { // the same package on several platforms: one finding
				continue
			}
			seen[k] = true
			v.Counts[strings.ToUpper(vu.Severity)]++
			sev := severityOf(vu.Severity)
			if off || sev < threshold || (vr.IgnoreUnfixed && vu.Fixed == "") || ignored(vr.Ignore, vu, c.now()) {
				continue
			}
			fix := "no fix released"
			if vu.Fixed != "" {
				fix = "fixed in " + vu.Fixed
			}
			title := ""
			if vu.Title != "" {
				title = ": " + vu.Title
			}
			v.Problems = append(v.Problems, Problem{RuleID: ruleVulnerable.ID, Severity: sev,
				Message: fmt.Sprintf("image %s@%s: %s (%s) in %s %s, %s%s", v.Image.Ref, res.Digest, vu.ID, strings.ToLower(vu.Severity), vu.Package, vu.Installed, fix, title)})
		}
	}
}

// AppliesTo: a root-user problem does not apply to a container that forces a non-root user.
func (p Problem) AppliesTo(u Use) bool { return !p.RootUser || !u.NonRoot }

func (v *Verdict) problem(r *rules.Rule, format string, args ...any) {
	v.Problems = append(v.Problems, Problem{RuleID: r.ID, Severity: r.Severity, Message: fmt.Sprintf(format, args...)})
}

// cacheable: only complete outcomes are kept. A failure to reach, verify or scan may be
// transient (or fixed by a push), so it is checked again next time.
func cacheable(v *Verdict) bool { return !slices.ContainsFunc(v.Problems, Problem.Unchecked) }

// Unchecked says the problem is a check that could not be done or did not pass (not
// resolved, digest gone, not verified, not scanned) rather than something a check found:
// the image is unknown, and the gate fails closed on it.
func (p Problem) Unchecked() bool {
	switch p.RuleID {
	case ruleUnresolved.ID, ruleDigestGone.ID, ruleUnverified.ID, ruleNotScanned.ID:
		return true
	}
	return false
}

func runsAsRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "" || u == "0" || u == "root"
}

func thresholdOf(failOn string) (rules.Severity, bool) {
	if strings.EqualFold(failOn, "off") {
		return 0, true
	}
	if failOn == "" {
		return rules.Critical, false
	}
	s, err := rules.ParseSeverity(failOn)
	if err != nil {
		return rules.Critical, false // validated with the policy
	}
	return s, false
}

// severityOf maps Trivy's severities; UNKNOWN counts as low.
func severityOf(s string) rules.Severity {
	if sev, err := rules.ParseSeverity(s); err == nil && sev != rules.Info {
		return sev
	}
	return rules.Low
}

func ignored(list []VulnIgnore, vu Vulnerability, now time.Time) bool {
	for _, ig := range list {
		if !strings.EqualFold(ig.ID, vu.ID) || (ig.Package != "" && ig.Package != vu.Package) {
			continue
		}
		if until, ok := ig.ExpiresAt(); ok && now.Before(until) {
			return true
		}
	}
	return false
}

// Findings attaches each verdict's problems to every container using the image, at its
// image: line. Root-user problems skip containers that force a non-root user.
func Findings(verdicts []*Verdict) []rules.Finding {
	var out []rules.Finding
	for _, v := range verdicts {
		for _, p := range v.Problems {
			for _, u := range v.Image.Uses {
				if !p.AppliesTo(u) {
					continue
				}
				msg := p.Message
				if p.RootUser {
					msg = fmt.Sprintf("container %q: %s", u.Container, msg)
				}
				out = append(out, rules.Finding{
					RuleID: p.RuleID, Severity: p.Severity, Object: u.Object.Ref(), Field: u.Field,
					Container: u.Container, Message: msg, Source: u.Object.SourceOf(u.Field),
					Subject: v.Image.Ref,
				})
			}
		}
	}
	return out
}

// DefaultParallel suits CI runners: registry round trips dominate, not CPU.
func DefaultParallel() int { return max(8, 2*runtime.NumCPU()) }

// ErrNotFound is wrapped by a Resolver's error when the registry says the manifest does not exist.
var ErrNotFound = errors.New("not found")
