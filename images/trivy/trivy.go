// Package trivy scans images for vulnerabilities with Trivy as a library: Trivy's DB
// (trivy-db) and its detectors (scan/ospkg, scan/langpkg). What is installed in an image
// is read by the inventory package, not by Trivy's fanal analyzers, whose framework links
// Trivy's misconfiguration engine. It is, with its inventory package, the only package
// that imports Trivy.
package trivy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	bolt "go.etcd.io/bbolt"

	tdb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/clock"
	ospkgDetector "github.com/aquasecurity/trivy/pkg/detector/ospkg"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/log"
	"github.com/aquasecurity/trivy/pkg/scan/langpkg"
	"github.com/aquasecurity/trivy/pkg/scan/ospkg"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aquasecurity/trivy/pkg/vulnerability"

	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/trivy/inventory"
	"github.com/kubegate/kubegate/internal/progress"
)

// DefaultDBRepositories are Trivy's own defaults: the mirror first, then GHCR.
var DefaultDBRepositories = []string{"mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2"}

// Options configure the scanner.
type Options struct {
	// CacheDir is Trivy's cache directory, shared with the trivy CLI: the DB lives in
	// CacheDir/db, kubegate's analyses of layers in CacheDir/kubegate-layers. Default: the
	// user cache dir + trivy.
	CacheDir string
	// Progress says when the DB is downloaded, and how big it is; nil says nothing.
	Progress *progress.Reporter
	// DBRepositories are tried in order to download the DB.
	DBRepositories []string
	// SkipDBUpdate uses the DB in the cache as it is; it must exist.
	SkipDBUpdate bool
	// InsecureDBRegistry reaches the DB repositories over plain HTTP (a mirror listed in
	// images.insecureRegistries).
	InsecureDBRegistry bool
	// Remote gives the options of registry requests (credentials, timeouts, retries);
	// default: the Docker config's credentials.
	Remote func(ctx context.Context) []remote.Option
}

// DBRef parses a DB repository as the trivy CLI does: without a tag, the tag is the DB
// schema version this build reads (":2"), never "latest".
func DBRef(repo string, opts ...name.Option) (name.Reference, error) {
	ref, err := name.ParseReference(repo, append(opts, name.WithDefaultTag(""))...)
	if err != nil {
		return nil, fmt.Errorf("vulnerability DB repository %q: %v", repo, err)
	}
	if t, ok := ref.(name.Tag); ok && t.TagStr() == "" {
		ref = t.Tag(strconv.Itoa(tdb.SchemaVersion))
	}
	return ref, nil
}

// DefaultCacheDir is Trivy's own default (trivy/pkg/cache.DefaultDir), so kubegate and
// trivy share one DB download.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "trivy")
}

// Scanner is an images.Scanner over Trivy's DB. Trivy's DB handle is process-global:
// open one Scanner per process.
type Scanner struct {
	vuln  vulnerability.Client
	opts  Options
	repos []name.Reference
	// mu guards the DB: scans hold it shared, Refresh holds it alone while it swaps the
	// process-global DB, so that scans in flight finish on the DB they started with and
	// later ones wait for the new one.
	mu   sync.RWMutex
	info atomic.Pointer[images.DBInfo] // read without mu: cached verdicts never wait
}

var logOnce sync.Once

// Open makes the DB ready (downloading it unless told not to) and opens the layer cache.
func Open(ctx context.Context, opts Options) (*Scanner, error) {
	logOnce.Do(func() { log.InitLogger(false, true) }) // Trivy's progress logs would interleave with the report
	if opts.CacheDir == "" {
		opts.CacheDir = DefaultCacheDir()
	}
	if len(opts.DBRepositories) == 0 {
		opts.DBRepositories = DefaultDBRepositories
	}
	s := &Scanner{opts: opts, vuln: vulnerability.NewClient(tdb.Config{})}
	var nameOpts []name.Option
	if opts.InsecureDBRegistry {
		nameOpts = append(nameOpts, name.Insecure)
	}
	for _, r := range opts.DBRepositories {
		ref, err := DBRef(r, nameOpts...)
		if err != nil {
			return nil, err
		}
		s.repos = append(s.repos, ref)
	}
	dir := dbDir(opts.CacheDir)
	needs, err := needsUpdate(dir, opts.SkipDBUpdate, clock.Now(ctx))
	if err != nil {
		return nil, fmt.Errorf("vulnerability DB in %s: %w", dir, err)
	}
	if needs {
		opts.Progress.Stage("images: downloading the vulnerability DB from %s", strings.Join(opts.DBRepositories, " or "))
		if err := s.download(ctx, opts.CacheDir); err != nil {
			return nil, err
		}
		size := "?"
		if st, err := os.Stat(tdb.Path(dir)); err == nil {
			size = fmt.Sprintf("%.0f MB", float64(st.Size())/1e6)
		}
		opts.Progress.Stage("images: vulnerability DB downloaded (%s)", size)
	}
	if err := s.open(dir); err != nil {
		return nil, err
	}
	return s, nil
}

// dbDir is the DB's directory in a Trivy cache directory, as Trivy keeps it.
func dbDir(cacheDir string) string { return filepath.Join(cacheDir, "db") }

// needsUpdate is Trivy's decision (trivy/pkg/db.Client.NeedsUpdate), so that kubegate and
// the trivy CLI sharing one cache agree on when the DB is downloaded: when it is missing
// (an error if the update is skipped), when it was not downloaded by Trivy's downloader
// (unless skipped), when its schema is not this build's (newer is an error), and when it is
// past its NextUpdate and was downloaded more than an hour ago.
func needsUpdate(dir string, skip bool, now time.Time) (bool, error) {
	meta, err := metadata.NewClient(dir).Get()
	_, statErr := os.Stat(tdb.Path(dir))
	if err != nil || statErr != nil {
		if skip {
			return false, errors.New("--skip-db-update cannot be specified on the first run")
		}
		return true, nil
	}
	if meta.DownloadedAt.IsZero() && !skip {
		return true, nil
	}
	if meta.Version > tdb.SchemaVersion {
		return false, fmt.Errorf("the version of DB schema doesn't match. Local DB: %d, Expected: %d", meta.Version, tdb.SchemaVersion)
	}
	if meta.Version != tdb.SchemaVersion {
		if skip {
			return false, fmt.Errorf("--skip-db-update cannot be specified with the old DB schema. Local DB: %d, Expected: %d", meta.Version, tdb.SchemaVersion)
		}
		return true, nil
	}
	if skip {
		return false, nil
	}
	return !now.Before(meta.NextUpdate) && !now.Before(meta.DownloadedAt.Add(time.Hour)), nil
}

// download pulls the DB into cacheDir/db (PullDB: through go-containerregistry, not Trivy's
// downloader, which links go-getter and every cloud storage SDK).
func (s *Scanner) download(ctx context.Context, cacheDir string) error {
	var ropts []remote.Option
	if s.opts.Remote != nil {
		ropts = s.opts.Remote(ctx)
	} else {
		ropts = []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	}
	if _, _, err := PullDB(ctx, s.repos, cacheDir, ropts...); err != nil {
		return fmt.Errorf("downloading the vulnerability DB from %s: %w", strings.Join(s.opts.DBRepositories, ", "), err)
	}
	return nil
}

// open opens the DB in dbDir as Trivy's global DB and reads what it is.
func (s *Scanner) open(dbDir string) error {
	if err := tdb.Init(dbDir, tdb.WithBoltOptions(&bolt.Options{ReadOnly: true})); err != nil {
		return fmt.Errorf("opening the vulnerability DB in %s: %w", dbDir, err)
	}
	meta, err := metadata.NewClient(dbDir).Get()
	if err != nil {
		tdb.Close()
		return fmt.Errorf("reading the vulnerability DB's metadata in %s: %w", dbDir, err)
	}
	info := dbInfo(meta)
	s.info.Store(&info)
	return nil
}

// Refresh downloads a newer DB when the one open is due for an update (Trivy's schedule)
// and swaps it in. The download goes to a directory of its own while scans go on; the
// swap waits for the scans in flight and later scans wait for it. It reports whether the
// DB changed; on an error the DB that was open stays open.
func (s *Scanner) Refresh(ctx context.Context) (bool, error) {
	dbDir := dbDir(s.opts.CacheDir)
	needs, err := needsUpdate(dbDir, false, clock.Now(ctx))
	if err != nil || !needs {
		return false, err
	}
	tmp, err := os.MkdirTemp(s.opts.CacheDir, "db-next-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if err := s.download(ctx, tmp); err != nil { // read back whole by PullDB
		return false, err
	}
	next := filepath.Join(tmp, "db")
	s.mu.Lock()
	defer s.mu.Unlock()
	reopen := func(err error) (bool, error) { return false, errors.Join(err, s.open(dbDir)) }
	old := dbDir + ".old"
	os.RemoveAll(old)
	tdb.Close()
	if err := os.Rename(dbDir, old); err != nil {
		return reopen(err)
	}
	if err := os.Rename(next, dbDir); err != nil {
		os.Rename(old, dbDir)
		return reopen(err)
	}
	if err := s.open(dbDir); err != nil { // back to the DB that worked
		os.RemoveAll(dbDir)
		os.Rename(old, dbDir)
		return reopen(err)
	}
	os.RemoveAll(old)
	return true, nil
}

// Close releases the DB, after the scans and the swap in flight.
func (s *Scanner) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	tdb.Close()
}

// DB describes the DB in use.
func (s *Scanner) DB() images.DBInfo { return *s.info.Load() }

// Scan reads what the image has installed (once per layer: the analysis is kept in the
// cache directory) and matches it against the DB: the vulnerability part of Trivy's
// local.Service.Scan.
func (s *Scanner) Scan(ctx context.Context, ref string, pi images.PlatformImage) (*images.ScanReport, error) {
	s.mu.RLock() // the DB stays the same for the whole scan: Refresh waits for it
	defer s.mu.RUnlock()
	detail, err := inventory.Image(ctx, pi.Image, s.opts.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("analysing the image's layers: %w", err)
	}
	// As Trivy's applier: without an OS, a distroless or scratch image, only language
	// packages, if any, are scanned.
	if !detail.OS.Detected() && len(detail.Packages) != 0 {
		detail.OS = ftypes.OS{Family: "none"}
	}
	target := types.ScanTarget{
		Name: ref, OS: detail.OS,
		Packages: detail.Packages, Applications: detail.Applications,
	}
	opts := types.ScanOptions{
		Scanners:         types.Scanners{types.VulnerabilityScanner},
		PkgTypes:         []string{types.PkgTypeOS, types.PkgTypeLibrary},
		PkgRelationships: ftypes.Relationships,
	}
	report := &images.ScanReport{}
	if detail.OS.Detected() && detail.OS.Family != "none" {
		report.OS = fmt.Sprintf("%s %s", detail.OS.Family, detail.OS.Name)
	}
	var results types.Results
	osResult, eol, err := ospkg.NewScanner().Scan(ctx, target, opts)
	switch {
	case errors.Is(err, ospkgDetector.ErrUnsupportedOS):
	case err != nil:
		return nil, fmt.Errorf("matching OS packages: %w", err)
	default:
		results = append(results, osResult)
	}
	report.EndOfLife = eol
	langResults, err := langpkg.NewScanner().Scan(ctx, target, opts)
	if err != nil {
		return nil, fmt.Errorf("matching language packages: %w", err)
	}
	results = append(results, langResults...)
	for _, r := range results {
		s.vuln.FillInfo(r.Vulnerabilities, []dbtypes.SourceID{"auto"}) // Trivy's --vuln-severity-source default
		for _, v := range r.Vulnerabilities {
			report.Vulnerabilities = append(report.Vulnerabilities, images.Vulnerability{
				ID: v.VulnerabilityID, Package: v.PkgName, Installed: v.InstalledVersion,
				Fixed: v.FixedVersion, Severity: v.Severity, Title: v.Title,
			})
		}
	}
	sortVulnerabilities(report)
	return report, nil
}

// sortVulnerabilities orders a report's vulnerabilities by ID, then package: reports
// come out the same whichever way the DB was reached.
func sortVulnerabilities(report *images.ScanReport) {
	slices.SortFunc(report.Vulnerabilities, func(a, b images.Vulnerability) int {
		return strings.Compare(a.ID+"\x00"+a.Package, b.ID+"\x00"+b.Package)
	})
}
