package trivy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/metadata"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	rpccache "github.com/aquasecurity/trivy/rpc/cache"
	rpccommon "github.com/aquasecurity/trivy/rpc/common"
	rpcscanner "github.com/aquasecurity/trivy/rpc/scanner"
	"github.com/twitchtv/twirp"

	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/trivy/inventory"
)

// Server is an images.Scanner whose vulnerability DB is a Trivy server's (`trivy server`,
// Trivy's client/server mode), so that many runners share one DB and one cache of
// analysed layers (the server's, which can be Redis) and keep none themselves. kubegate
// reads a layer (the inventory, as for a local scan) only when the server's cache lacks
// it, puts what it found there, and asks the server to match the image. It speaks Trivy's
// Twirp API through the generated clients only: Trivy's own client package links its IaC
// scanners.
type Server struct {
	url    string
	header http.Header // the token, if the server wants one
	client *http.Client
	cache  rpccache.Cache
	scan   rpcscanner.Scanner
	mu     sync.Mutex
	db     images.DBInfo
	dbRead time.Time
	// CacheDir keeps analysed layers on the runner too (optional).
	CacheDir string
}

// ServerOptions reach a Trivy server.
type ServerOptions struct {
	Token, TokenHeader string // TokenHeader default Trivy-Token, as trivy's --token-header
	Client             *http.Client
}

// OpenServer reaches the Trivy server at url and reads what DB it has (its /version).
func OpenServer(ctx context.Context, url string, opts ServerOptions) (*Server, error) {
	url = strings.TrimSuffix(url, "/")
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Minute}
	}
	s := &Server{url: url, header: http.Header{}, client: opts.Client}
	if opts.Token != "" {
		h := opts.TokenHeader
		if h == "" {
			h = "Trivy-Token"
		}
		s.header.Set(h, opts.Token)
	}
	hook := twirp.WithClientHooks(&twirp.ClientHooks{RequestPrepared: func(ctx context.Context, r *http.Request) (context.Context, error) {
		for k, v := range s.header {
			r.Header[k] = v
		}
		return ctx, nil
	}})
	s.cache = rpccache.NewCacheProtobufClient(url, opts.Client, hook)
	s.scan = rpcscanner.NewScannerProtobufClient(url, opts.Client, hook)
	if err := s.readDB(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// serverDBRecheck is how often DB asks the server again which DB it has: a server updates
// its DB every few hours, and a long-running webhook must see it.
const serverDBRecheck = 5 * time.Minute

// DB is the server's DB, as it said at most serverDBRecheck ago (when the server cannot be
// asked, as it last said).
func (s *Server) DB() images.DBInfo {
	s.mu.Lock()
	stale := time.Since(s.dbRead) > serverDBRecheck
	s.mu.Unlock()
	if stale {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.readDB(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db
}

// readDB reads what DB the server has (its /version).
func (s *Server) readDB(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/version", nil)
	if err != nil {
		return fmt.Errorf("Trivy server %s: %w", s.url, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("Trivy server %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var v struct{ VulnerabilityDB *metadata.Metadata }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return fmt.Errorf("Trivy server %s: /version: HTTP %d: %.200s", s.url, resp.StatusCode, body)
	}
	if v.VulnerabilityDB == nil || v.VulnerabilityDB.UpdatedAt.IsZero() {
		return fmt.Errorf("Trivy server %s has no vulnerability DB", s.url)
	}
	s.mu.Lock()
	s.db, s.dbRead = dbInfo(*v.VulnerabilityDB), time.Now()
	s.mu.Unlock()
	return nil
}

// layerKey is the server-cache key of kubegate's analysis of a layer: kubegate's own, so a
// trivy client's analysis (other analyzers, other options) is never taken for it.
func layerKey(diffID string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("kubegate-inventory/v%d/%s", inventory.Version, diffID)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Scan puts the layers the server lacks into its cache and has the server match them.
func (s *Server) Scan(ctx context.Context, ref string, pi images.PlatformImage) (*images.ScanReport, error) {
	layers, err := pi.Image.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing the image's layers: %w", err)
	}
	keys := make([]string, len(layers))
	for i, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		keys[i] = layerKey(d.String())
	}
	cfg, err := pi.Image.ConfigName()
	if err != nil {
		return nil, err
	}
	artifact := layerKey("artifact/" + cfg.String())
	missing, err := s.cache.MissingBlobs(ctx, &rpccache.MissingBlobsRequest{ArtifactId: artifact, BlobIds: keys})
	if err != nil {
		return nil, fmt.Errorf("Trivy server %s: %w", s.url, err)
	}
	for i, l := range layers {
		if !slices.Contains(missing.MissingBlobIds, keys[i]) {
			continue
		}
		a, err := inventory.ReadLayer(ctx, l, s.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("analysing the image's layers: %w", err)
		}
		d, _ := l.DiffID()
		if _, err := s.cache.PutBlob(ctx, &rpccache.PutBlobRequest{DiffId: keys[i], BlobInfo: blobInfo(d.String(), a)}); err != nil {
			return nil, fmt.Errorf("Trivy server %s: %w", s.url, err)
		}
	}
	resp, err := s.scan.Scan(ctx, &rpcscanner.ScanRequest{Target: ref, ArtifactId: artifact, BlobIds: keys, Options: &rpcscanner.ScanOptions{
		Scanners: []string{"vuln"}, PkgTypes: []string{"os", "library"}, VulnSeveritySources: []string{"auto"},
		PkgRelationships: relationships(),
	}})
	if err != nil {
		return nil, fmt.Errorf("Trivy server %s: %w", s.url, err)
	}
	report := &images.ScanReport{}
	if o := resp.Os; o != nil && o.Family != "" && o.Family != "none" {
		report.OS, report.EndOfLife = o.Family+" "+o.Name, o.Eosl
	}
	for _, r := range resp.Results {
		for _, v := range r.Vulnerabilities {
			report.Vulnerabilities = append(report.Vulnerabilities, images.Vulnerability{ID: v.VulnerabilityId, Package: v.PkgName,
				Installed: v.InstalledVersion, Fixed: v.FixedVersion, Severity: v.Severity.String(), Title: v.Title})
		}
	}
	sortVulnerabilities(report)
	return report, nil
}

func relationships() []string {
	var out []string
	for _, r := range ftypes.Relationships {
		out = append(out, r.String())
	}
	return out
}

// blobInfo is a layer's analysis in the form Trivy's cache keeps it.
func blobInfo(diffID string, l inventory.Layer) *rpccache.BlobInfo {
	b := &rpccache.BlobInfo{SchemaVersion: ftypes.BlobJSONSchemaVersion, DiffId: diffID,
		OpaqueDirs: l.OpaqueDirs, WhiteoutFiles: l.Whiteouts}
	if l.OS.Family != "" || l.OS.Name != "" || l.OS.Extended {
		b.Os = &rpccommon.OS{Family: string(l.OS.Family), Name: l.OS.Name, Extended: l.OS.Extended}
	}
	for _, pi := range l.PackageInfos {
		b.PackageInfos = append(b.PackageInfos, &rpccommon.PackageInfo{FilePath: pi.FilePath, Packages: packages(pi.Packages)})
	}
	for _, a := range l.Applications {
		b.Applications = append(b.Applications, &rpccommon.Application{Type: string(a.Type), FilePath: a.FilePath, Packages: packages(a.Packages)})
	}
	return b
}

func packages(ps []ftypes.Package) []*rpccommon.Package {
	out := make([]*rpccommon.Package, 0, len(ps))
	for _, p := range ps {
		out = append(out, &rpccommon.Package{Id: p.ID, Name: p.Name, Version: p.Version, Release: p.Release, Epoch: int32(p.Epoch),
			Arch: p.Arch, SrcName: p.SrcName, SrcVersion: p.SrcVersion, SrcRelease: p.SrcRelease, SrcEpoch: int32(p.SrcEpoch),
			FilePath: p.FilePath, DependsOn: p.DependsOn, Indirect: p.Indirect, Relationship: int32(p.Relationship),
			Maintainer: p.Maintainer, Repository: &rpccommon.PackageRepository{Class: string(p.Repository.Class)}})
	}
	return out
}
