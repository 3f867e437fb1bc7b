package trivy

import (
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	tdb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
	bolt "go.etcd.io/bbolt"
)

// Advisory is one entry of a vulnerability DB written by WriteDB.
type Advisory struct {
	Source   string // the DB bucket: "alpine 3.19", "debian 12"
	Package  string // the (source) package name
	ID       string // CVE-2026-0001
	Fixed    string // the first fixed version; "" = no fix released
	Severity string // CRITICAL, HIGH, MEDIUM, LOW
	Title    string
}

// WriteDB writes a small vulnerability DB in Trivy's format (trivy.db and metadata.json
// in cacheDir/db), built at updatedAt: for tests and the offline demo, where nothing may
// be downloaded. It writes through Trivy's process-global DB handle: call it before a
// Scanner is opened, never while one is open.
func WriteDB(cacheDir string, advisories []Advisory, updatedAt time.Time) error {
	dir := dbDir(cacheDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := tdb.Init(dir); err != nil {
		return fmt.Errorf("creating the DB: %w", err)
	}
	defer tdb.Close()
	dbc := tdb.Config{}
	err := dbc.BatchUpdate(func(tx *bolt.Tx) error {
		for _, a := range advisories {
			adv := dbtypes.Advisory{FixedVersion: a.Fixed}
			if a.Fixed == "" {
				adv.Status = dbtypes.StatusAffected
			}
			if err := dbc.PutAdvisory(tx, []string{a.Source, a.Package}, a.ID, adv); err != nil {
				return err
			}
			sev, err := dbtypes.NewSeverity(a.Severity)
			if err != nil {
				return fmt.Errorf("%s: %w", a.ID, err)
			}
			vuln := dbtypes.Vulnerability{Title: a.Title, Severity: a.Severity,
				VendorSeverity: dbtypes.VendorSeverity{vulnerability.NVD: sev}}
			if err := dbc.PutVulnerability(tx, a.ID, vuln); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing the DB: %w", err)
	}
	return metadata.NewClient(dir).Update(metadata.Metadata{
		Version: tdb.SchemaVersion, UpdatedAt: updatedAt, NextUpdate: updatedAt.Add(24 * time.Hour), DownloadedAt: updatedAt,
	})
}

// DBArtifact is a DB as Trivy publishes it in its OCI repository (see PushDB). Like
// WriteDB, never while a Scanner is open.
func DBArtifact(advisories []Advisory, updatedAt time.Time) (v1.Image, error) {
	tmp, err := os.MkdirTemp("", "kubegate-db-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := WriteDB(tmp, advisories, updatedAt); err != nil {
		return nil, err
	}
	return packDB(dbDir(tmp))
}
