package images_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/kubegate/kubegate/gate/manifest"
	"github.com/kubegate/kubegate/gate/model"
	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/cosign"
	"github.com/kubegate/kubegate/images/imagetest"
	"github.com/kubegate/kubegate/images/registry"
)

// fakeScanner stands in for Trivy (tested in images/trivy): reports by platform digest.
type fakeScanner struct {
	reports map[string]*images.ScanReport
	err     error
	db      images.DBInfo
	calls   atomic.Int32
}

func (f *fakeScanner) Scan(_ context.Context, _ string, pi images.PlatformImage) (*images.ScanReport, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	if r, ok := f.reports[pi.Digest.String()]; ok {
		return r, nil
	}
	return &images.ScanReport{OS: "alpine 3.19.1"}, nil
}

func (f *fakeScanner) DB() images.DBInfo { return f.db }

type world struct {
	reg     *imagetest.Registry
	signer  *imagetest.Signer
	keyFile string
	digests map[string]name.Digest // repo → digest
	scanner *fakeScanner
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{reg: imagetest.NewRegistry(), digests: map[string]name.Digest{}}
	t.Cleanup(w.reg.Close)
	var err error
	if w.signer, err = imagetest.NewSigner(); err != nil {
		t.Fatal(err)
	}
	pem, _ := w.signer.PublicKeyPEM()
	w.keyFile = filepath.Join(t.TempDir(), "cosign.pub")
	os.WriteFile(w.keyFile, pem, 0o644)
	for repo, user := range map[string]string{"signed": "1000", "unsigned": "", "vuln": "65532"} {
		img, _ := imagetest.Alpine("3.19.1", map[string]string{"musl": "1.2.4-r2", repo: "1.0-r0"}, user, "linux/amd64")
		d, err := w.reg.Push("app/"+repo+":1", img)
		if err != nil {
			t.Fatal(err)
		}
		w.digests[repo] = d
	}
	if err := w.signer.SignClassic(w.reg, w.digests["signed"]); err != nil {
		t.Fatal(err)
	}
	w.scanner = &fakeScanner{db: images.DBInfo{Version: "v2-test", UpdatedAt: time.Now()}, reports: map[string]*images.ScanReport{
		w.digests["vuln"].DigestStr(): {OS: "alpine 3.19.1", Vulnerabilities: []images.Vulnerability{
			{ID: "CVE-2026-0001", Package: "musl", Installed: "1.2.4-r2", Fixed: "1.2.4-r3", Severity: "CRITICAL", Title: "musl: heap overflow"},
			{ID: "CVE-2026-0002", Package: "busybox", Installed: "1.36.1-r15", Severity: "HIGH", Title: "no fix yet"},
			{ID: "CVE-2026-0003", Package: "zlib", Installed: "1.3.1-r0", Fixed: "1.3.1-r1", Severity: "HIGH", Title: "ignored"},
			{ID: "CVE-2026-0005", Package: "zlib", Installed: "1.3.1-r0", Fixed: "1.3.1-r1", Severity: "MEDIUM", Title: "below the threshold"},
		}},
	}}
	return w
}

func (w *world) ref(repo string) string { return w.reg.Host() + "/app/" + repo + ":1" }

func (w *world) checker(p *policy.Policy) *images.Checker {
	res := registry.New(registry.Options{Insecure: []string{w.reg.Host()}, Timeout: 300 * time.Millisecond, Retries: 1})
	return &images.Checker{
		Resolver: res,
		Verifier: cosign.New(cosign.Options{Remote: res.Remote, Parse: res.Parse,
			TrustedRoot: func() (root.TrustedMaterial, error) { return nil, errors.New("offline test") }}),
		Scanner: w.scanner, Policy: p, Parallel: 4,
	}
}

// workloads renders one Deployment per image; nonRoot sets runAsNonRoot on the pod.
func workloads(t *testing.T, nonRoot bool, refs ...string) *model.Set {
	t.Helper()
	var b strings.Builder
	for i, ref := range refs {
		fmt.Fprintf(&b, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w%d, namespace: shop}\nspec:\n  template:\n    spec:\n", i)
		if nonRoot {
			b.WriteString("      securityContext: {runAsNonRoot: true}\n")
		}
		fmt.Fprintf(&b, "      containers:\n      - name: c\n        image: %s\n", ref)
	}
	var objs []*manifest.Object
	for _, d := range manifest.Decode([]byte(b.String()), manifest.Source{File: "w.yaml"}) {
		objs = append(objs, d.Objects...)
	}
	return model.NewSet(objs, model.Options{})
}

func check(t *testing.T, c *images.Checker, set *model.Set) ([]*images.Verdict, []string) {
	t.Helper()
	verdicts := c.Check(context.Background(), images.Collect(set))
	var out []string
	for _, f := range images.Findings(verdicts) {
		out = append(out, fmt.Sprintf("%s %s %s: %s", f.Source, f.RuleID, f.Severity, f.Message))
	}
	return verdicts, out
}

func TestCleanImagePasses(t *testing.T) {
	w := newWorld(t)
	key := &policy.SignatureRule{Keys: []string{w.keyFile}, IgnoreTlog: true}
	c := w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{w.reg.Host() + "/app/**"}, Signature: key}}}})
	verdicts, findings := check(t, c, workloads(t, false, w.ref("signed")))
	if len(findings) != 0 {
		t.Fatalf("findings for a signed non-root image:\n%s", strings.Join(findings, "\n"))
	}
	v := verdicts[0]
	if v.Digest != w.digests["signed"].DigestStr() || v.Users[0] != "1000" || v.SignedBy[0] != "key "+w.keyFile || v.OS != "alpine 3.19.1" {
		t.Errorf("verdict = %+v", v)
	}
}

// TestFaultMatrix: every way the registry, the signature or the scanner can fail becomes a
// finding on the image naming the cause. No case may pass.
func TestFaultMatrix(t *testing.T) {
	key := func(w *world) *policy.SignatureRule {
		return &policy.SignatureRule{Keys: []string{w.keyFile}, IgnoreTlog: true}
	}
	for _, tc := range []struct {
		name  string
		setup func(w *world) (ref string, c *images.Checker)
		want  string // rule: message part
	}{
		{"auth refused", func(w *world) (string, *images.Checker) {
			w.reg.Inject("/v2/app/signed/manifests/", imagetest.Fault{Status: 401})
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-unresolved: image HOST/app/signed:1 could not be resolved: the registry refused access (401 Unauthorized: injected fault 401)"},
		{"forbidden", func(w *world) (string, *images.Checker) {
			w.reg.Inject("/v2/app/signed/manifests/", imagetest.Fault{Status: 403})
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-unresolved: image HOST/app/signed:1 could not be resolved: the registry refused access (403 Forbidden"},
		{"tag not found", func(w *world) (string, *images.Checker) {
			return w.reg.Host() + "/app/signed:2", w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-unresolved: image HOST/app/signed:2 could not be resolved: the registry does not serve it (404 Not Found"},
		{"pinned digest gone", func(w *world) (string, *images.Checker) {
			return w.reg.Host() + "/app/signed@sha256:" + strings.Repeat("ab", 32), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-digest-gone: image HOST/app/signed@sha256:abab"},
		{"server error after retries", func(w *world) (string, *images.Checker) {
			w.reg.Inject("/v2/app/signed/manifests/", imagetest.Fault{Status: 500})
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-unresolved: image HOST/app/signed:1 could not be resolved: the registry failed (500 Internal Server Error: injected fault 500), retries included"},
		{"timeout", func(w *world) (string, *images.Checker) {
			w.reg.Inject("/v2/app/signed/manifests/", imagetest.Fault{Delay: 3 * time.Second})
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-unresolved: image HOST/app/signed:1 could not be resolved: the registry did not answer in time"},
		{"manifest does not match its digest", func(w *world) (string, *images.Checker) {
			w.reg.Inject("/v2/app/signed/manifests/sha256:", imagetest.Fault{Corrupt: true})
			return w.digests["signed"].String(), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-unresolved: image HOST/app/signed@sha256:"},
		{"config blob corrupted", func(w *world) (string, *images.Checker) {
			img, _ := imagetest.Alpine("3.19.1", nil, "1000", "linux/amd64")
			cfg, _ := img.ConfigName()
			w.reg.Push("app/corrupt:1", img)
			w.reg.Inject("/blobs/"+cfg.String(), imagetest.Fault{Corrupt: true})
			return w.reg.Host() + "/app/corrupt:1", w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-unresolved: image HOST/app/corrupt:1 could not be resolved: reading the config of sha256:"},
		{"no signature, pinned by digest", func(w *world) (string, *images.Checker) {
			return w.digests["vuln"].String(), w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Signature: key(w)}}}})
		}, "image-unverified: image HOST/app/vuln@sha256:"},
		{"no signature", func(w *world) (string, *images.Checker) {
			return w.ref("vuln"), w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Signature: key(w)}}}})
		}, "image-unverified: image HOST/app/vuln:1@sha256:"},
		{"wrong key", func(w *world) (string, *images.Checker) {
			other, _ := imagetest.NewSigner()
			pem, _ := other.PublicKeyPEM()
			f := filepath.Join(filepath.Dir(w.keyFile), "other.pub")
			os.WriteFile(f, pem, 0o644)
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Signature: &policy.SignatureRule{Keys: []string{f}, IgnoreTlog: true}}}}})
		}, "image-unverified: image HOST/app/signed:1@sha256:"},
		{"tampered signature", func(w *world) (string, *images.Checker) {
			w.reg.Inject(".sig", imagetest.Fault{Corrupt: true})
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Signature: key(w)}}}})
		}, "image-unverified: image HOST/app/signed:1@sha256:"},
		{"signature store failing", func(w *world) (string, *images.Checker) {
			w.reg.Inject(".sig", imagetest.Fault{Status: 502})
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Signature: key(w)}}}})
		}, "image-unverified: image HOST/app/signed:1@sha256:"},
		{"keyless without a trusted root", func(w *world) (string, *images.Checker) {
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Signature: &policy.SignatureRule{
				Keyless: []policy.KeylessIdentity{{Issuer: "https://token.actions.githubusercontent.com", SubjectRegExp: "^https://github.com/acme/"}}}}}}})
		}, "image-unverified: keyless ~^https://github.com/acme/ (https://token.actions.githubusercontent.com): loading the Sigstore trusted root: offline test"},
		{"scan fails", func(w *world) (string, *images.Checker) {
			w.scanner.err = errors.New("analysing the image's layers: unexpected EOF")
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-not-scanned: image HOST/app/signed:1 (sha256:"},
		{"no DB", func(w *world) (string, *images.Checker) {
			w.scanner.err = errors.New("vulnerability DB in /cache/db: --skip-db-update cannot be specified on the first run")
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-not-scanned: could not be scanned: vulnerability DB in /cache/db: --skip-db-update cannot be specified on the first run"},
		{"no scanner", func(w *world) (string, *images.Checker) {
			c := w.checker(&policy.Policy{Images: policy.Images{}})
			c.Scanner = nil
			return w.ref("signed"), c
		}, "image-not-scanned: was not scanned: no vulnerability scanner is configured"},
		{"stale DB", func(w *world) (string, *images.Checker) {
			w.scanner.db.UpdatedAt = time.Now().Add(-30 * 24 * time.Hour)
			return w.ref("signed"), w.checker(&policy.Policy{Images: policy.Images{}})
		}, "image-vulnerability-db-stale: image HOST/app/signed:1@sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			ref, c := tc.setup(w)
			_, findings := check(t, c, workloads(t, true, ref))
			text := strings.ReplaceAll(strings.Join(findings, "\n"), w.reg.Host(), "HOST")
			for _, l := range findings {
				if twice.MatchString(l) || strings.Contains(l, ", )") || strings.Contains(l, "()") {
					t.Errorf("a message repeats the digest or shows an empty field: %s", l)
				}
			}
			rule, msg, _ := strings.Cut(tc.want, ": ")
			if !slices.ContainsFunc(strings.Split(text, "\n"), func(l string) bool {
				return strings.Contains(l, " "+rule+" ") && strings.Contains(l, msg)
			}) {
				t.Fatalf("the image passed or failed for another reason; want %s\ngot:\n%s", tc.want, text)
			}
		})
	}
}

// twice is a reference whose digest is printed twice.
var twice = regexp.MustCompile(`@sha256:[0-9a-f]{64}@sha256:`)

func TestRetriesTransientErrors(t *testing.T) {
	w := newWorld(t)
	w.reg.Inject("/v2/app/signed/manifests/", imagetest.Fault{Status: 503, Count: 1})
	_, findings := check(t, w.checker(&policy.Policy{Images: policy.Images{}}), workloads(t, true, w.ref("signed")))
	if len(findings) != 0 {
		t.Fatalf("one 503 was not retried:\n%s", strings.Join(findings, "\n"))
	}
}

func TestRunsAsRoot(t *testing.T) {
	w := newWorld(t)
	c := w.checker(&policy.Policy{Images: policy.Images{}})
	_, findings := check(t, c, workloads(t, false, w.ref("unsigned"), w.ref("signed")))
	want := fmt.Sprintf(`w.yaml:10 image-runs-as-root high: container "c": image %s (%s, linux/amd64) runs as root (config User "") and the pod sets neither runAsNonRoot: true nor a non-zero runAsUser`,
		w.ref("unsigned"), w.digests["unsigned"].DigestStr())
	if strings.Join(findings, "\n") != want {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(findings, "\n"), want)
	}
	// runAsNonRoot: true without a runAsUser does not make a root image safe: it does not
	// start. Only a non-zero runAsUser covers it.
	want = fmt.Sprintf(`w.yaml:11 image-runs-as-root high: container "c": image %s (%s, linux/amd64) runs as root (config User ""), and the pod sets runAsNonRoot: true with no runAsUser: the kubelet refuses to start the container (CreateContainerConfigError); set a non-zero runAsUser`,
		w.ref("unsigned"), w.digests["unsigned"].DigestStr())
	if _, findings := check(t, c, workloads(t, true, w.ref("unsigned"))); strings.Join(findings, "\n") != want {
		t.Fatalf("runAsNonRoot: true on a root image: got\n%s\nwant\n%s", strings.Join(findings, "\n"), want)
	}
	withUser := workloads(t, false, w.ref("unsigned"))
	withUser.Pods[0].Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: new(int64(1000))}
	if _, findings := check(t, c, withUser); len(findings) != 0 {
		t.Fatalf("a non-zero runAsUser does not cover a root image:\n%s", strings.Join(findings, "\n"))
	}
	windows := workloads(t, false, w.ref("unsigned"))
	windows.Pods[0].Spec.OS = &corev1.PodOS{Name: corev1.Windows}
	if _, findings := check(t, c, windows); len(findings) != 0 {
		t.Fatalf("a Windows pod judged by a Linux image user:\n%s", strings.Join(findings, "\n"))
	}
	// A multi-arch image running as root on both platforms: one finding per container, naming both.
	amd, _ := imagetest.Alpine("3.19.1", map[string]string{"a": "1"}, "root", "linux/amd64")
	arm, _ := imagetest.Alpine("3.19.1", map[string]string{"a": "1"}, "0:0", "linux/arm64")
	if _, err := w.reg.PushIndex("app/rootmulti:1", map[string]v1.Image{"linux/amd64": amd, "linux/arm64": arm}); err != nil {
		t.Fatal(err)
	}
	_, findings = check(t, c, workloads(t, false, w.reg.Host()+"/app/rootmulti:1"))
	if len(findings) != 1 || !strings.Contains(findings[0], "linux/amd64; sha256:") || !strings.Contains(findings[0], "linux/arm64) runs as root") {
		t.Fatalf("want one finding naming both platforms, got:\n%s", strings.Join(findings, "\n"))
	}
}

func TestVulnerabilityPolicy(t *testing.T) {
	w := newWorld(t)
	d := w.digests["vuln"].DigestStr()
	for _, tc := range []struct {
		name string
		rule policy.VulnerabilityRule
		want []string
	}{
		{"default: critical only", policy.VulnerabilityRule{FailOn: "critical"}, []string{
			"critical: image REF@" + d + ": CVE-2026-0001 (critical) in musl 1.2.4-r2, fixed in 1.2.4-r3: musl: heap overflow"}},
		{"high, ignore unfixed, one ignored until 2099", policy.VulnerabilityRule{FailOn: "high", IgnoreUnfixed: true,
			Ignore: []policy.VulnIgnore{{ID: "CVE-2026-0003", Package: "zlib", Reason: "not reachable", Expires: "2099-01-31"}}}, []string{
			"critical: image REF@" + d + ": CVE-2026-0001 (critical) in musl 1.2.4-r2, fixed in 1.2.4-r3: musl: heap overflow"}},
		{"high, expired ignore", policy.VulnerabilityRule{FailOn: "high",
			Ignore: []policy.VulnIgnore{{ID: "CVE-2026-0003", Reason: "was not reachable", Expires: "2020-01-31"}}}, []string{
			"critical: image REF@" + d + ": CVE-2026-0001 (critical) in musl 1.2.4-r2, fixed in 1.2.4-r3: musl: heap overflow",
			"high: image REF@" + d + ": CVE-2026-0002 (high) in busybox 1.36.1-r15, no fix released: no fix yet",
			"high: image REF@" + d + ": CVE-2026-0003 (high) in zlib 1.3.1-r0, fixed in 1.3.1-r1: ignored"}},
		{"off", policy.VulnerabilityRule{FailOn: "off"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.scanner.calls.Store(0)
			c := w.checker(&policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"*/app/vuln"}, Vulnerabilities: &tc.rule}}}})
			verdicts, findings := check(t, c, workloads(t, true, w.ref("vuln")))
			var got []string
			for _, f := range findings {
				_, rest, _ := strings.Cut(f, " image-vulnerable ")
				got = append(got, strings.ReplaceAll(rest, w.ref("vuln"), "REF"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.rule.FailOn == "off" { // nothing gates on vulnerabilities: no scan, no DB
				if w.scanner.calls.Load() != 0 || verdicts[0].Scanned {
					t.Errorf("failOn: off scanned the image (%d scans)", w.scanner.calls.Load())
				}
				return
			}
			if verdicts[0].Counts["HIGH"] != 2 || verdicts[0].Counts["CRITICAL"] != 1 {
				t.Errorf("counts = %v", verdicts[0].Counts)
			}
		})
	}
}

func TestEndOfLife(t *testing.T) {
	w := newWorld(t)
	w.scanner.reports[w.digests["signed"].DigestStr()] = &images.ScanReport{OS: "alpine 3.10.9", EndOfLife: true}
	_, findings := check(t, w.checker(&policy.Policy{Images: policy.Images{}}), workloads(t, true, w.ref("signed")))
	want := fmt.Sprintf("w.yaml:11 image-os-end-of-life high: image %s (%s, linux/amd64) is based on alpine 3.10.9, which is end of life: no more security fixes", w.ref("signed"), w.digests["signed"].DigestStr())
	if strings.Join(findings, "\n") != want {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(findings, "\n"), want)
	}
}

func TestMultiArchPlatforms(t *testing.T) {
	w := newWorld(t)
	imgs := map[string]v1.Image{}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/s390x"} {
		imgs[p], _ = imagetest.Alpine("3.19.1", map[string]string{"arch": p}, "1000", p)
	}
	if _, err := w.reg.PushIndex("app/multi:1", imgs); err != nil {
		t.Fatal(err)
	}
	ref := w.reg.Host() + "/app/multi:1"
	for _, tc := range []struct {
		platforms []string
		want      string
	}{
		{nil, "linux/amd64 linux/arm64"},
		{[]string{"linux/s390x"}, "linux/s390x"},
		{[]string{"windows/amd64"}, "image-unresolved"},
	} {
		w.scanner.calls.Store(0)
		verdicts, findings := check(t, w.checker(&policy.Policy{Images: policy.Images{Platforms: tc.platforms}}), workloads(t, true, ref))
		var got []string
		for _, p := range verdicts[0].Platforms {
			got = append(got, p.String())
		}
		slices.Sort(got)
		if len(findings) > 0 {
			got = []string{strings.Join(findings, "\n")}
		}
		if !strings.Contains(strings.Join(got, " "), tc.want) {
			t.Errorf("platforms %v: got %v, want %s", tc.platforms, got, tc.want)
		}
		if len(findings) == 0 && int(w.scanner.calls.Load()) != len(verdicts[0].Platforms) {
			t.Errorf("scanned %d platform images, want %d", w.scanner.calls.Load(), len(verdicts[0].Platforms))
		}
	}
}

func TestCacheSkipsUnchangedDigests(t *testing.T) {
	w := newWorld(t)
	c := w.checker(&policy.Policy{Images: policy.Images{}})
	res := c.Resolver.(*registry.Resolver)
	c.Cache = &images.Cache{Dir: t.TempDir()}
	c.DigestOf = res.Digest
	set := workloads(t, false, w.ref("unsigned"), w.ref("vuln"))
	first, f1 := check(t, c, set)
	calls := w.scanner.calls.Load()
	second, f2 := check(t, c, set)
	if w.scanner.calls.Load() != calls || !second[0].Cached || !second[1].Cached || first[0].Cached {
		t.Fatalf("second check scanned again (%d → %d scans) or did not use the cache", calls, w.scanner.calls.Load())
	}
	if strings.Join(f1, "\n") != strings.Join(f2, "\n") {
		t.Fatalf("cached findings differ:\n%s\n---\n%s", strings.Join(f1, "\n"), strings.Join(f2, "\n"))
	}
	// The files are the truth, not what the process decoded before: a cache directory
	// deleted (to force a check) is checked again, and a stale problem added to one
	// verdict never lands in the next.
	os.RemoveAll(c.Cache.Dir)
	if again, _ := check(t, c, set); again[0].Cached || again[1].Cached {
		t.Fatalf("verdicts served from memory after the cache directory was deleted")
	}
	// A new push under the same tag is a new digest: checked again.
	img, _ := imagetest.Alpine("3.19.2", nil, "1000", "linux/amd64")
	w.reg.Push("app/unsigned:1", img)
	third, _ := check(t, c, set)
	if third[0].Cached || !third[1].Cached {
		t.Fatalf("a moved tag was served from the cache")
	}
}

// TestOneDigestLookupPerImage: with verdict attestations trusted (none found here) and a
// verdict cache, the image's digest is asked for once, not by each.
func TestOneDigestLookupPerImage(t *testing.T) {
	w := newWorld(t)
	p := &policy.Policy{Images: policy.Images{Verdicts: &policy.VerdictTrust{Trust: policy.SignatureRule{Keys: []string{"k.pub"}}}}}
	c := w.checker(p)
	res := c.Resolver.(*registry.Resolver)
	var heads atomic.Int32
	c.Cache = &images.Cache{Dir: t.TempDir()}
	c.DigestOf = func(ctx context.Context, ref string) (string, error) { heads.Add(1); return res.Digest(ctx, ref) }
	c.Verdicts = noVerdicts{}
	if vs, _ := check(t, c, workloads(t, false, w.ref("vuln"))); len(vs) != 1 || vs[0].NotReused == "" {
		t.Fatalf("verdicts %+v", vs)
	}
	if n := heads.Load(); n != 1 {
		t.Errorf("%d digest lookups for one image", n)
	}
}

// noVerdicts finds no verdict attestation.
type noVerdicts struct{}

func (noVerdicts) Verdicts(context.Context, string, v1.Hash, *policy.SignatureRule) ([]images.SignedStatement, error) {
	return nil, nil
}

// cachingChecker is w.checker with a verdict cache in dir.
func (w *world) cachingChecker(p *policy.Policy, dir string) *images.Checker {
	c := w.checker(p)
	c.Cache, c.DigestOf = &images.Cache{Dir: dir}, c.Resolver.(*registry.Resolver).Digest
	return c
}

// TestCacheKeyCoversTrust: a verdict depends on the content of the keys, not their
// paths. A key replaced under the same path, an expired vulnerability ignore or a DB
// gone stale is never served from the cache.
func TestCacheKeyCoversTrust(t *testing.T) {
	t.Run("key swapped under the same path", func(t *testing.T) {
		w := newWorld(t)
		dir := t.TempDir()
		p := &policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Signature: &policy.SignatureRule{Keys: []string{w.keyFile}, IgnoreTlog: true}}}}}
		if _, f := check(t, w.cachingChecker(p, dir), workloads(t, true, w.ref("signed"))); len(f) != 0 {
			t.Fatalf("signed image: %v", f)
		}
		other, _ := imagetest.NewSigner()
		pem, _ := other.PublicKeyPEM()
		os.WriteFile(w.keyFile, pem, 0o644) // the signer's key is revoked
		verdicts, f := check(t, w.cachingChecker(p, dir), workloads(t, true, w.ref("signed")))
		if verdicts[0].Cached || len(f) != 1 || !strings.Contains(f[0], " image-unverified high: image "+w.ref("signed")+"@sha256:") {
			t.Fatalf("a verdict made with the old key passed from cache (cached %v): %v", verdicts[0].Cached, f)
		}
		os.Remove(w.keyFile)
		if verdicts, f := check(t, w.cachingChecker(p, dir), workloads(t, true, w.ref("signed"))); verdicts[0].Cached || len(f) != 1 ||
			!strings.Contains(f[0], "reading the public key "+w.keyFile+": no such file or directory") {
			t.Fatalf("key file gone: cached %v, %v", verdicts[0].Cached, f)
		}
	})
	t.Run("ignore expired", func(t *testing.T) {
		w := newWorld(t)
		dir := t.TempDir()
		p := &policy.Policy{Images: policy.Images{Rules: []policy.ImageRule{{Match: []string{"**"}, Vulnerabilities: &policy.VulnerabilityRule{FailOn: "critical",
			Ignore: []policy.VulnIgnore{{ID: "CVE-2026-0001", Reason: "not reachable", Expires: "2026-12-31"}}}}}}}
		c := w.cachingChecker(p, dir)
		c.Now = time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
		w.scanner.db.UpdatedAt = c.Now
		if _, f := check(t, c, workloads(t, true, w.ref("vuln"))); len(f) != 0 {
			t.Fatalf("ignored CVE reported: %v", f)
		}
		c = w.cachingChecker(p, dir)
		c.Now = time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC)
		if _, f := check(t, c, workloads(t, true, w.ref("vuln"))); len(f) != 1 || !strings.Contains(f[0], "CVE-2026-0001 (critical)") {
			t.Fatalf("the ignore expired but the cached verdict still hides the CVE: %v", f)
		}
	})
	t.Run("DB gone stale since the verdict was cached", func(t *testing.T) {
		w := newWorld(t)
		dir := t.TempDir()
		w.scanner.db.UpdatedAt = time.Now().Add(-6 * 24 * time.Hour)
		if _, f := check(t, w.cachingChecker(&policy.Policy{Images: policy.Images{}}, dir), workloads(t, true, w.ref("signed"))); len(f) != 0 {
			t.Fatalf("fresh DB: %v", f)
		}
		c := w.cachingChecker(&policy.Policy{Images: policy.Images{}}, dir)
		c.Now = time.Now().Add(2 * 24 * time.Hour)
		verdicts, f := check(t, c, workloads(t, true, w.ref("signed")))
		if !verdicts[0].Cached || len(f) != 1 || !strings.Contains(f[0], " image-vulnerability-db-stale high: image "+w.ref("signed")+"@sha256:") {
			t.Fatalf("a DB older than 7 days passed a cached verdict (cached %v): %v", verdicts[0].Cached, f)
		}
		c.Policy.Images.AllowStaleDB = true
		if _, f := check(t, c, workloads(t, true, w.ref("signed"))); len(f) != 0 {
			t.Fatalf("allowStaleDB: %v", f)
		}
	})
}

// TestPlainHTTPRegistryReported: go-containerregistry falls back to plain HTTP for
// private-range addresses without saying so; the image stage says so. The registry here
// is on loopback, reached as 10.1.2.3 through a dialer that leads there.
func TestPlainHTTPRegistryReported(t *testing.T) {
	w := newWorld(t)
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, w.reg.Host())
	}}
	_, port, _ := net.SplitHostPort(w.reg.Host())
	ref := "10.1.2.3:" + port + "/app/signed:1"
	c := w.checker(&policy.Policy{Images: policy.Images{}})
	res := registry.New(registry.Options{Transport: transport, Timeout: 2 * time.Second, Retries: 1})
	c.Resolver, c.Cache, c.DigestOf = res, &images.Cache{Dir: t.TempDir()}, res.Digest
	for i := range 2 { // the second time from cache: still reported
		verdicts, f := check(t, c, workloads(t, true, ref))
		if len(f) != 1 || !strings.Contains(f[0], " image-registry-insecure high: image "+ref+" was fetched over plain HTTP from 10.1.2.3:"+port+" (not a loopback address)") {
			t.Fatalf("run %d (cached %v): %v", i, verdicts[0].Cached, f)
		}
	}
	// Listed as insecure: the reference rule reports it (once, from the policy), not the stage.
	listed := registry.New(registry.Options{Transport: transport, Insecure: []string{"10.1.2.3:" + port}, Timeout: 2 * time.Second, Retries: 1})
	c = w.checker(&policy.Policy{Images: policy.Images{}})
	c.Resolver = listed
	if _, f := check(t, c, workloads(t, true, ref)); len(f) != 0 {
		t.Fatalf("listed insecure registry reported twice: %v", f)
	}
	// Loopback over plain HTTP is fine.
	if _, f := check(t, w.checker(&policy.Policy{Images: policy.Images{}}), workloads(t, true, w.ref("signed"))); len(f) != 0 {
		t.Fatalf("loopback: %v", f)
	}
}

func TestPolicyScans(t *testing.T) {
	off := &policy.VulnerabilityRule{FailOn: "off"}
	for _, tc := range []struct {
		p    *policy.Policy
		want bool
	}{
		{&policy.Policy{Images: policy.Images{}}, true}, // the built-in default rule fails on critical
		{&policy.Policy{Images: policy.Images{DefaultRule: &policy.ImageRule{Vulnerabilities: off}}}, false},
		{&policy.Policy{Images: policy.Images{DefaultRule: &policy.ImageRule{Vulnerabilities: off}, Rules: []policy.ImageRule{{Match: []string{"**"}}}}}, true}, // no vulnerabilities: the default threshold
		{&policy.Policy{Images: policy.Images{DefaultRule: &policy.ImageRule{Vulnerabilities: off}, Rules: []policy.ImageRule{{Match: []string{"**"}, Vulnerabilities: off}}}}, false},
	} {
		if got := images.Scans(&tc.p.Images); got != tc.want {
			t.Errorf("%+v: Scans() = %v, want %v", tc.p, got, tc.want)
		}
	}
}

// emptyResolver resolves every reference to a digest with no platform image, as a
// resolver with a bug or an odd registry might.
type emptyResolver struct{}

func (emptyResolver) Resolve(context.Context, string, []images.Platform) (*images.Resolved, error) {
	return &images.Resolved{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}, nil
}

// TestNothingToScanFailsClosed: an image that resolves to no platform image is not
// scanned, and says so; it never passes as clean.
func TestNothingToScanFailsClosed(t *testing.T) {
	c := &images.Checker{Resolver: emptyResolver{}, Scanner: &fakeScanner{db: images.DBInfo{Version: "1", UpdatedAt: time.Now()}}}
	im, _ := images.NewImage("ghcr.io/acme/web:1")
	v := c.Check(context.Background(), []*images.Image{im})[0]
	if len(v.Problems) != 1 || v.Problems[0].RuleID != "image-not-scanned" || v.Scanned {
		t.Errorf("problems %+v scanned %v", v.Problems, v.Scanned)
	}
}
