package images

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/gate/finding"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/gate/rules"
	"github.com/kubegate/kubegate/internal/parallel"
	"github.com/kubegate/kubegate/internal/progress"
)

// Scans says whether any image can be scanned under the policy: some rule (or the default
// rule) gates on vulnerabilities. When none does, no vulnerability DB is needed.
func Scans(p *policy.Images) bool {
	def := p.DefaultRule
	if def == nil {
		def = &DefaultRule
	}
	if scanning(def) != nil {
		return true
	}
	for i := range p.Rules {
		if scanning(&p.Rules[i]) != nil {
			return true
		}
	}
	return false
}

// images is the policy's images section.
func (c *Checker) images() *policy.Images {
	if c.Policy == nil {
		return &policy.Default().Images
	}
	return &c.Policy.Images
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
	// verified or scanned again; with Verdicts, the digest whose attestations are looked
	// up. Optional (verdicts then resolve the image).
	DigestOf func(ctx context.Context, ref string) (string, error)
	Cache    *Cache
	// Verdicts finds verdict attestations, used instead of a check when the policy trusts
	// them (images.verdicts). Optional.
	Verdicts VerdictSource
	Policy   *policy.Policy     // its images section; nil: the default policy
	Parallel int                // images checked at once; default DefaultParallel()
	Progress *progress.Reporter // nil: no progress
	Now      time.Time

	// reused remembers the verdict attestations used, by reference, digest and image
	// policy: a long-running webhook asks the registry once per digest, not per review.
	reused sync.Map // string → Verdict
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
	Counts    map[string]int `json:"counts,omitempty"`  // every vulnerability found, by severity
	Scanned   bool           `json:"scanned,omitempty"` // at least one platform was scanned
	Problems  []Problem      `json:"problems,omitempty"`
	Ignored   []string       `json:"ignored,omitempty"` // vulnerability IDs the policy ignored
	Cached    bool           `json:"-"`
	// PolicyDigest names the image policy that judged (VerdictPredicate.Policy) and DB the
	// vulnerability DB of the scan: what a verdict attestation records.
	PolicyDigest string `json:"-"`
	DB           DBInfo `json:"-"`
	// Reused says which verified verdict attestation stands for the check ("verified
	// verdict from key ci.pub, 2h0m0s old"); NotReused, when verdicts are trusted, why none
	// did.
	Reused, NotReused string    `json:"-"`
	evaluated         time.Time // when the reused attestation was made, and who signed it
	signer            string
}

// Problem is one reason an image fails, before it is attached to the containers using it.
type Problem struct {
	RuleID   string           `json:"rule"`
	Severity finding.Severity `json:"severity"`
	Message  string           `json:"message"`
	// RootUser problems apply only to containers that do not force a non-root user.
	RootUser bool `json:"rootUser,omitempty"`
}

// Check checks every image, at most Parallel at a time, and returns their verdicts in the
// order of images.
func (c *Checker) Check(ctx context.Context, images []*Image) []*Verdict {
	n := c.Concurrency()
	out := make([]*Verdict, len(images))
	var done atomic.Int32
	c.Progress.Count("images checked", 0, len(images))
	parallel.ForN(n, len(images), func(i int) {
		out[i] = c.checkOne(ctx, images[i])
		c.Progress.Count("images checked", int(done.Add(1)), len(images))
	})
	return out
}

// Concurrency is how many images are checked at once: Parallel, else DefaultParallel.
func (c *Checker) Concurrency() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return DefaultParallel()
}

func (c *Checker) now() time.Time {
	if c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

func (c *Checker) checkOne(ctx context.Context, im *Image) *Verdict {
	rule := MatchRule(c.images().Rules, c.images().DefaultRule, im.Repo)
	vr := scanning(rule)
	k, keyOK := c.keyParts(im, rule, vr)
	pd := ""
	if keyOK {
		pd = policyDigest(k)
	}
	// One HEAD request per image, whether the verdict attestations or the cache ask.
	digestOf := c.DigestOf
	if digestOf != nil {
		once := sync.OnceValues(func() (string, error) { return c.DigestOf(ctx, im.Ref) })
		digestOf = func(context.Context, string) (string, error) { return once() }
	}
	// A trusted verdict attestation first: then no vulnerability DB is opened at all.
	var notReused string
	if keyOK && c.Verdicts != nil && c.images().Verdicts != nil {
		v, why := c.attested(ctx, im, pd, digestOf)
		if v != nil {
			c.judgeDBAge(v)
			return v
		}
		notReused = why
	}
	var db DBInfo
	if vr != nil && c.Scanner != nil { // failOn: off needs no DB (signature-only gating)
		db = c.Scanner.DB()
	}
	v := c.cachedOrCheck(ctx, im, vr, db, k, keyOK, digestOf)
	v.PolicyDigest = pd
	if v.Scanned {
		v.DB = db
	}
	v.NotReused = notReused
	c.judgeDBAge(v)
	return v
}

// judgeDBAge: a verdict made with a DB older than StaleAfter is a problem. Judged at every
// use, not cached: a DB goes stale while verdicts made with it are kept.
func (c *Checker) judgeDBAge(v *Verdict) {
	if v.Scanned && !c.images().AllowStaleDB && c.now().Sub(v.DB.UpdatedAt) > StaleAfter {
		v.problem(rules.ImageStaleDB, "image %s was scanned with a vulnerability DB built %s (older than 7 days): it was not checked against what was published since",
			withDigest(v.Image.Ref, v.Digest), v.DB.UpdatedAt.UTC().Format(time.DateOnly))
	}
}

// Loopback says whether a registry host is on the loopback interface (localhost,
// *.localhost — RFC 6761 keeps both there — 127.0.0.0/8, ::1): plain HTTP to it crosses no
// network.
func Loopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// attested is the verdict of a trusted verdict attestation on the image's current digest,
// or nil and why not. An image of a registry reached over plain HTTP (not loopback) is
// checked in full: there the digest a tag names can be swapped on the way, which the full
// check reports (image-registry-insecure) and a verdict would hide.
func (c *Checker) attested(ctx context.Context, im *Image, policyDigest string, digestOf func(context.Context, string) (string, error)) (*Verdict, string) {
	host, _, _ := strings.Cut(im.Repo, "/")
	for _, r := range c.images().InsecureRegistries {
		if h, _, _ := strings.Cut(r, "/"); h == host && !Loopback(host) {
			return nil, fmt.Sprintf("verdict attestations of %s not used: its registry is reached over plain HTTP", im.Ref)
		}
	}
	var digest string
	var err error
	if digestOf != nil {
		digest, err = digestOf(ctx, im.Ref)
	} else {
		var res *Resolved
		if res, err = c.Resolver.Resolve(ctx, im.Ref, c.images().ParsedPlatforms()); err == nil {
			digest = res.Digest.String()
		}
	}
	if err != nil {
		return nil, fmt.Sprintf("verdict attestations of %s not looked up: %v", im.Ref, err)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, fmt.Sprintf("verdict attestations of %s not looked up: %v", im.Ref, err)
	}
	// The verdicts' trust is part of the key: a verdict key replaced or revoked under its
	// path is asked again at once, as the keys of image rules are.
	key := im.Ref + "\x00" + digest + "\x00" + policyDigest
	if c.Verifier != nil {
		t, err := c.Verifier.Trust(&c.images().Verdicts.Trust)
		if err != nil {
			return nil, fmt.Sprintf("verdict attestations of %s not looked up: %v", im.Ref, err)
		}
		key += "\x00" + t
	}
	if r, ok := c.reused.Load(key); ok {
		if v := r.(Verdict); c.now().Sub(v.evaluated) <= c.images().Verdicts.MaxAgeOrDefault() {
			// A copy of its own: the caller adds problems (a stale DB) to it.
			v.Image, v.Problems = im, slices.Clone(v.Problems)
			v.Reused = reusedNote(v.signer, c.now().Sub(v.evaluated))
			return &v, ""
		}
		c.reused.Delete(key)
	}
	v, why := c.reuse(ctx, im, h, policyDigest)
	if v != nil {
		kept := *v
		kept.Problems = slices.Clone(v.Problems)
		c.reused.Store(key, kept)
	}
	return v, why
}

// cachedOrCheck returns the cached verdict for the image's current digest under the same
// rule, trust material, DB and platforms, or checks the image and caches the verdict. vr
// is the rule's vulnerability threshold, nil when it does not scan; k is the verdict's key
// parts, when keyOK.
func (c *Checker) cachedOrCheck(ctx context.Context, im *Image, vr *policy.VulnerabilityRule, db DBInfo, k keyParts, keyOK bool,
	digestOf func(context.Context, string) (string, error)) (v *Verdict) {
	rule := k.Rule
	var key func(digest string) string
	if c.Cache != nil && keyOK {
		if vr != nil {
			k.DB = db.Version
		}
		key = k.key
	}
	if key != nil && digestOf != nil {
		if d, err := digestOf(ctx, im.Ref); err == nil {
			if cached, ok := c.Cache.Get(key(d)); ok {
				cached.Image, cached.Cached = im, true
				return cached
			}
		}
	}
	v = &Verdict{Image: im}
	defer func() {
		if key != nil && v.Digest != "" && cacheable(v) {
			c.Cache.Put(key(v.Digest), v)
		}
	}()
	res, err := c.Resolver.Resolve(ctx, im.Ref, c.images().ParsedPlatforms())
	if err != nil {
		if im.Digested && errors.Is(err, ErrNotFound) {
			v.problem(rules.ImageDigestGone, "image %s: the registry no longer serves the pinned digest: %v", im.Ref, err)
		} else {
			v.problem(rules.ImageUnresolved, "image %s could not be resolved: %v", im.Ref, err)
		}
		return v
	}
	v.Digest = res.Digest.String()
	if res.PlainHTTP != "" {
		v.problem(rules.ImageRegistryInsecure, "image %s was fetched over plain HTTP from %s (not a loopback address): anyone on the path can swap the image", im.Ref, res.PlainHTTP)
	}
	var described []string
	for _, p := range res.Platforms {
		v.Platforms = append(v.Platforms, p.Platform)
		user := ""
		if p.Config != nil {
			user = p.Config.Config.User
		}
		v.Users = append(v.Users, user)
		described = append(described, p.describe())
	}
	v.rootUserProblem(described)
	if rule.Signature != nil || len(rule.Attestations) > 0 {
		c.verify(ctx, v, res, rule)
	}
	if vr != nil {
		c.scan(ctx, v, res, vr)
	}
	return v
}

// keyParts is everything the image's verdict depends on but its digest and the DB (the
// verdict cache adds those): the rule, the content of its keys, the platforms, the
// ignores live now. ok is false when part of it cannot be read (a key file gone): then
// nothing is cached, and no verdict attestation is trusted.
func (c *Checker) keyParts(im *Image, rule *policy.ImageRule, vr *policy.VulnerabilityRule) (keyParts, bool) {
	k := keyParts{V: cacheVersion, Ref: im.Ref, Rule: rule, Platforms: c.images().ParsedPlatforms()}
	if rule.Signature != nil {
		if c.Verifier == nil {
			return k, false
		}
		t, err := c.Verifier.Trust(rule.Signature)
		if err != nil {
			return k, false
		}
		k.Trust = t
	}
	if vr != nil {
		// An ignore that expires changes the verdict: the key names the ignores live now.
		for _, ig := range vr.Ignore {
			if ignoredUntil(ig, c.now()) {
				k.LiveIgnores = append(k.LiveIgnores, ig.ID+"/"+ig.Package)
			}
		}
	}
	return k, true
}

// rootUserProblem adds one problem for the image, however many of its platforms run as
// root; described names each platform image in the message (nil: the platforms).
func (v *Verdict) rootUserProblem(described []string) {
	var rootOn []string
	rootUser := ""
	for i, user := range v.Users {
		if !runsAsRoot(user) {
			continue
		}
		d := ""
		switch {
		case i < len(described):
			d = described[i]
		case i < len(v.Platforms):
			d = v.Digest + ", " + v.Platforms[i].String()
		}
		rootOn, rootUser = append(rootOn, d), user
	}
	if len(rootOn) > 0 {
		v.Problems = append(v.Problems, Problem{RuleID: rules.ImageRunsAsRoot.ID, Severity: rules.ImageRunsAsRoot.Severity, RootUser: true,
			Message: fmt.Sprintf("image %s (%s) runs as root (config User %q)", v.Image.Ref, strings.Join(rootOn, "; "), rootUser)})
	}
}

func (c *Checker) verify(ctx context.Context, v *Verdict, res *Resolved, rule *policy.ImageRule) {
	at := withDigest(v.Image.Ref, v.Digest)
	if c.Verifier == nil {
		v.problem(rules.ImageUnverified, "image %s: no signature verifier is configured", at)
		return
	}
	ver, err := c.Verifier.Verify(ctx, v.Image.Ref, res.Digest, rule.Signature, rule.Attestations)
	if err != nil {
		v.problem(rules.ImageUnverified, "image %s is not verified: %v", at, err)
		return
	}
	v.SignedBy, v.Attested = ver.SignedBy, ver.Attestations
}

func (c *Checker) scan(ctx context.Context, v *Verdict, res *Resolved, vr *policy.VulnerabilityRule) {
	at := withDigest(v.Image.Ref, v.Digest)
	if c.Scanner == nil {
		v.problem(rules.ImageNotScanned, "image %s was not scanned: no vulnerability scanner is configured", at)
		return
	}
	if len(res.Platforms) == 0 { // a resolver that found nothing to scan: nothing was
		v.problem(rules.ImageNotScanned, "image %s was not scanned: the registry gave no platform image", at)
		return
	}
	threshold, _ := thresholdOf(vr.FailOn)
	seen := map[string]bool{}
	v.Counts = map[string]int{}
	for _, p := range res.Platforms {
		rep, err := c.Scanner.Scan(ctx, v.Image.Ref, p)
		if err != nil {
			v.problem(rules.ImageNotScanned, "image %s (%s) could not be scanned: %v", v.Image.Ref, p.describe(), err)
			continue
		}
		v.Scanned = true
		if v.OS == "" {
			v.OS = rep.OS
		}
		if rep.EndOfLife && !slices.ContainsFunc(v.Problems, func(p Problem) bool { return p.RuleID == rules.ImageEndOfLife.ID }) {
			v.problem(rules.ImageEndOfLife, "image %s (%s) is based on %s, which is end of life: no more security fixes", v.Image.Ref, p.describe(), rep.OS)
		}
		for _, vu := range rep.Vulnerabilities {
			k := vu.ID + "\x00" + vu.Package + "\x00" + vu.Installed
			if seen[k] { // the same package on several platforms: one finding
				continue
			}
			seen[k] = true
			v.Counts[strings.ToUpper(vu.Severity)]++
			sev := severityOf(vu.Severity)
			if ignored(vr.Ignore, vu, c.now()) {
				if !slices.Contains(v.Ignored, vu.ID) {
					v.Ignored = append(v.Ignored, vu.ID)
				}
				continue
			}
			if sev < threshold || (vr.IgnoreUnfixed && vu.Fixed == "") {
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
			v.Problems = append(v.Problems, Problem{RuleID: rules.ImageVulnerable.ID, Severity: sev,
				Message: fmt.Sprintf("image %s: %s (%s) in %s %s, %s%s", at, vu.ID, strings.ToLower(vu.Severity), vu.Package, vu.Installed, fix, title)})
		}
	}
}

// withDigest names an image by its reference and the digest it resolved to, once: a
// reference that pins the digest already says it.
func withDigest(ref, digest string) string {
	if digest == "" || strings.HasSuffix(ref, "@"+digest) {
		return ref
	}
	return ref + "@" + digest
}

// describe names a platform image: its digest, and its platform when the config says one.
func (p PlatformImage) describe() string {
	if pl := p.Platform.String(); pl != "" {
		return p.Digest.String() + ", " + pl
	}
	return p.Digest.String()
}

// AppliesTo: a root-user problem does not apply to a container with a non-zero runAsUser,
// nor to a Windows pod (its image user is not a Linux UID).
func (p Problem) AppliesTo(u Use) bool { return !p.RootUser || !u.NonRootUser && !u.Windows }

func (v *Verdict) problem(r *finding.Rule, format string, args ...any) {
	v.Problems = append(v.Problems, Problem{RuleID: r.ID, Severity: r.Severity, Message: fmt.Sprintf(format, args...)})
}

// cacheable: only complete outcomes are kept. A failure to reach, verify or scan may be
// transient (or fixed by a push), so it is checked again next time.
func cacheable(v *Verdict) bool { return !slices.ContainsFunc(v.Problems, Problem.Unchecked) }

// Unchecked says the problem is a check that could not be done or did not pass (not
// resolved, digest gone, not verified, not scanned, scanned with a stale DB) rather than
// something a check found: the image is unknown, and the gate fails closed on it.
func (p Problem) Unchecked() bool {
	r, ok := rules.Lookup(p.RuleID)
	return ok && r.FailClosed
}

func runsAsRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "" || u == "0" || u == "root"
}

func thresholdOf(failOn string) (finding.Severity, bool) {
	if strings.EqualFold(failOn, "off") {
		return 0, true
	}
	if failOn == "" {
		return finding.Critical, false
	}
	s, err := finding.ParseSeverity(failOn)
	if err != nil {
		return finding.Critical, false // validated with the policy
	}
	return s, false
}

// severityOf maps Trivy's severities; UNKNOWN counts as low.
func severityOf(s string) finding.Severity {
	if sev, err := finding.ParseSeverity(s); err == nil && sev != finding.Info {
		return sev
	}
	return finding.Low
}

func ignored(list []policy.VulnIgnore, vu Vulnerability, now time.Time) bool {
	for _, ig := range list {
		if strings.EqualFold(ig.ID, vu.ID) && (ig.Package == "" || ig.Package == vu.Package) && ignoredUntil(ig, now) {
			return true
		}
	}
	return false
}

// ignoredUntil says whether the ignore entry is live at now.
func ignoredUntil(ig policy.VulnIgnore, now time.Time) bool {
	until, ok := ig.ExpiresAt()
	return ok && now.Before(until)
}

// rootUserConsequence says what a root image means for one container.
func rootUserConsequence(u Use) string {
	if u.RunAsNonRoot {
		return ", and the pod sets runAsNonRoot: true with no runAsUser: the kubelet refuses to start the container (CreateContainerConfigError); set a non-zero runAsUser"
	}
	return " and the pod sets neither runAsNonRoot: true nor a non-zero runAsUser"
}

// Findings attaches each verdict's problems to every container using the image, at its
// image: line. Root-user problems skip containers with a non-zero runAsUser and Windows pods.
func Findings(verdicts []*Verdict) []finding.Finding {
	var out []finding.Finding
	for _, v := range verdicts {
		for _, p := range v.Problems {
			for _, u := range v.Image.Uses {
				if !p.AppliesTo(u) {
					continue
				}
				msg := p.Message
				if p.RootUser {
					msg = fmt.Sprintf("container %q: %s%s", u.Container, msg, rootUserConsequence(u))
				}
				out = append(out, finding.Finding{
					RuleID: p.RuleID, Severity: p.Severity, Object: u.Object.Ref(), Field: u.Field,
					Container: u.Container, Message: msg, Source: u.Object.SourceOf(u.Field),
					Subject: v.Image.Ref, FailClosed: p.Unchecked(),
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
