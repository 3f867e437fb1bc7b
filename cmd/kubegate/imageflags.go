package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/cosign"
	"github.com/kubegate/kubegate/images/registry"
	"github.com/kubegate/kubegate/images/trivy"
	"github.com/kubegate/kubegate/internal/progress"
)

// imageFlags configure the image stage of check and images.
type imageFlags struct {
	offline       bool
	parallel      int
	regTimeout    time.Duration
	skipDBUpdate  bool
	dbRepos       []string
	trivyCacheDir string
	cacheDir      string
	noCache       bool
	trustedRoot   string
	attestKey     string
	attestKeyless bool
	fulcioURL     string
	rekorURL      string
	trivyServer   string
	serverToken   string
	tokenHeader   string
	quiet         bool
	// attester signs verdict attestations (--attest-key); made by checker.
	attester *cosign.Attester
	// progress is where progress goes (the command's stderr); nil: os.Stderr.
	progress io.Writer
}

func (f *imageFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.offline, "offline", false, "use no network at all (image checks are skipped and the report says which)")
	fs.IntVar(&f.parallel, "parallel", images.DefaultParallel(), "images checked at once")
	fs.DurationVar(&f.regTimeout, "registry-timeout", 30*time.Second, "give up one registry request after this long (it is retried; an image not resolved in the end fails the gate); the vulnerability DB's download gets at least 5m")
	fs.BoolVar(&f.skipDBUpdate, "skip-db-update", false, "use the vulnerability DB in the Trivy cache as it is (it must exist)")
	fs.StringArrayVar(&f.dbRepos, "db-repository", nil, "OCI repository of the vulnerability DB, tried in order (repeatable; default: "+strings.Join(trivy.DefaultDBRepositories, ", ")+")")
	fs.StringVar(&f.trivyCacheDir, "trivy-cache-dir", trivy.DefaultCacheDir(), "Trivy's cache directory: the vulnerability DB, shared with the trivy CLI, and kubegate's analysed layers")
	fs.StringVar(&f.cacheDir, "verdict-cache-dir", images.DefaultCacheDir(), "where kubegate caches image verdicts by digest (Trivy's own cache is --trivy-cache-dir)")
	deprecatedAlias(fs, "verdict-cache-dir", "cache-dir", "", "in trivy --cache-dir is Trivy's cache, which is --trivy-cache-dir here")
	fs.BoolVar(&f.noCache, "no-cache", false, "check every image again, ignoring cached verdicts")
	fs.StringVar(&f.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json for keyless signatures and transparency-log checks (default: the public-good root, through TUF)")
	fs.StringVar(&f.attestKey, "attest-key", "", "sign a verdict attestation ("+images.VerdictPredicateType+") for every image that passed its checks with this cosign private key (a file, or env://VAR; password in COSIGN_PASSWORD) and attach it to the image, so that later runs and the webhook trusting the key (images.verdicts) use it instead of checking again")
	fs.BoolVar(&f.attestKeyless, "attest-keyless", false, "sign the verdict attestations keyless instead: an ephemeral key certified by Fulcio for the CI's OIDC identity (SIGSTORE_ID_TOKEN, or GitHub Actions' token with id-token: write), each signature logged in Rekor")
	fs.StringVar(&f.fulcioURL, "fulcio-url", "https://fulcio.sigstore.dev", "Fulcio of --attest-keyless")
	fs.StringVar(&f.rekorURL, "rekor-url", "https://rekor.sigstore.dev", "Rekor of --attest-keyless")
	fs.StringVar(&f.trivyServer, "trivy-server", "", "match images against a Trivy server's DB (trivy server; Trivy's client/server mode) instead of a local one: runners share the server's DB and its cache of analysed layers")
	fs.StringVar(&f.serverToken, "trivy-server-token", os.Getenv("TRIVY_TOKEN"), "token of the Trivy server (default $TRIVY_TOKEN)")
	fs.StringVar(&f.tokenHeader, "trivy-server-token-header", "Trivy-Token", "header the Trivy server reads the token from")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr (on a terminal one line rewritten in place; in a CI log a line per stage and at most one count line every 2 s)")
}

// checker builds the image stage under the policy, and what releases it; the Trivy DB is
// opened when the first image is scanned, so runs without images touch no network. The
// policy's env://VAR keys are read now: a missing one is a policy error.
func (f *imageFlags) checker(p *policy.Policy) (*images.Checker, func(), error) {
	if f.offline {
		if f.attestKey != "" || f.attestKeyless {
			return nil, nil, errors.New("--attest-key/--attest-keyless sign what the image checks found: drop --offline")
		}
		return nil, func() {}, nil
	}
	if err := p.CheckEnvKeys(); err != nil {
		return nil, nil, err
	}
	// Absolute from here on: check --diff-base and the pre-push hook run the gate again
	// from another directory, with the same image stage.
	keyDir := p.KeyDir()
	for _, dir := range []*string{&f.trivyCacheDir, &f.cacheDir, &f.trustedRoot, &keyDir} {
		if *dir != "" {
			abs, err := filepath.Abs(*dir)
			if err != nil {
				return nil, nil, err
			}
			*dir = abs
		}
	}
	var insecure []string
	for _, r := range p.Images.InsecureRegistries {
		host, _, _ := strings.Cut(r, "/")
		insecure = append(insecure, host)
	}
	insecureDB := slices.ContainsFunc(f.dbRepos, func(repo string) bool {
		host, _, _ := strings.Cut(repo, "/")
		return slices.Contains(insecure, host)
	})
	res := registry.New(registry.Options{Insecure: insecure, Timeout: f.regTimeout})
	// The DB is tens of MB: its requests get the DB's own timeout, not an image request's.
	dbRes := registry.New(registry.Options{Insecure: insecure, Timeout: max(f.regTimeout, dbRequestTimeout)})
	vopts := cosign.Options{Remote: res.Remote, Parse: res.Parse, BaseDir: keyDir, TrustedRootFile: f.trustedRoot}
	var prog *progress.Reporter
	if !f.quiet {
		w := f.progress
		if w == nil {
			w = os.Stderr
		}
		file, isFile := w.(*os.File)
		prog = progress.New(w, isFile && term.IsTerminal(int(file.Fd())), 2*time.Second)
	}
	scanner := &lazyScanner{open: func() (images.Scanner, error) {
		if f.trivyServer != "" {
			s, err := trivy.OpenServer(context.Background(), f.trivyServer, trivy.ServerOptions{Token: f.serverToken, TokenHeader: f.tokenHeader})
			if err == nil {
				s.CacheDir = f.trivyCacheDir // analysed layers stay on the runner too
			}
			return s, err
		}
		return trivy.Open(context.Background(), trivy.Options{CacheDir: f.trivyCacheDir, DBRepositories: f.dbRepos,
			SkipDBUpdate: f.skipDBUpdate, InsecureDBRegistry: insecureDB, Progress: prog, Remote: dbRes.Remote})
	}}
	verifier := cosign.New(vopts)
	c := &images.Checker{
		Resolver: res,
		Verifier: verifier,
		Scanner:  scanner,
		Policy:   p,
		Parallel: f.parallel,
		Progress: prog,
		DigestOf: res.Digest,
	}
	if p.Images.Verdicts != nil {
		c.Verdicts = verifier
	}
	if !f.noCache {
		c.Cache = &images.Cache{Dir: f.cacheDir}
	}
	switch {
	case f.attestKey != "" && f.attestKeyless:
		return nil, nil, errors.New("--attest-key and --attest-keyless: choose one way to sign verdicts")
	case f.attestKeyless:
		token, err := identityToken(context.Background())
		if err != nil {
			return nil, nil, fmt.Errorf("--attest-keyless: %w", err)
		}
		if f.attester, err = cosign.NewKeylessAttester(cosign.Keyless{IDToken: token, FulcioURL: f.fulcioURL, RekorURL: f.rekorURL},
			cosign.Options{Remote: res.Remote, Parse: res.Parse}); err != nil {
			return nil, nil, fmt.Errorf("--attest-keyless: %w", err)
		}
	case f.attestKey != "":
		pem, err := policy.KeyPEM(f.attestKey, "")
		if err != nil {
			return nil, nil, fmt.Errorf("--attest-key: %w", err)
		}
		if f.attester, err = cosign.NewAttester(pem, []byte(os.Getenv("COSIGN_PASSWORD")), cosign.Options{Remote: res.Remote, Parse: res.Parse}); err != nil {
			return nil, nil, fmt.Errorf("--attest-key %s: %w (a cosign private key; its password in COSIGN_PASSWORD)", f.attestKey, err)
		}
	}
	return c, scanner.Close, nil
}

// lazyScanner opens Trivy's DB (or reaches the Trivy server) on first use; when it cannot,
// every scan fails with why.
type lazyScanner struct {
	open func() (images.Scanner, error)
	once sync.Once
	// opened is set once open has returned.
	opened atomic.Bool
	s      images.Scanner // a *trivy.Scanner, or a *trivy.Server
	err    error
}

func (l *lazyScanner) get() (images.Scanner, error) {
	l.once.Do(func() {
		l.s, l.err = l.open()
		l.opened.Store(true)
	})
	return l.s, l.err
}

// ready is get's outcome without waiting for it: a readiness probe must not hang while
// the DB downloads.
func (l *lazyScanner) ready() error {
	if !l.opened.Load() {
		return errors.New("the vulnerability DB is still being opened")
	}
	return l.err
}

// info is the DB in use without waiting for it to open: ok is false until it is open.
func (l *lazyScanner) info() (images.DBInfo, bool) {
	if !l.opened.Load() || l.err != nil {
		return images.DBInfo{}, false
	}
	return l.s.DB(), true
}

func (l *lazyScanner) DB() images.DBInfo {
	if s, err := l.get(); err == nil {
		return s.DB()
	}
	return images.DBInfo{}
}

func (l *lazyScanner) Scan(ctx context.Context, ref string, pi images.PlatformImage) (*images.ScanReport, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Scan(ctx, ref, pi)
}

// Close releases the DB when it was opened.
func (l *lazyScanner) Close() {
	if s, ok := l.s.(*trivy.Scanner); ok && s != nil { // open failed: a nil *trivy.Scanner
		s.Close()
	}
}
