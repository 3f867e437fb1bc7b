package trivy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	bolt "go.etcd.io/bbolt"

	tdb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"

	"github.com/kubegate/kubegate/images"
)

// The DB as Trivy publishes it: an OCI artifact of one tar+gzip layer holding trivy.db and
// metadata.json. Trivy's downloader takes exactly one layer, of this media type.
const (
	dbLayerMediaType = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	dbConfigType     = "application/vnd.aquasec.trivy.config.v1+json"
	dbLayerTitle     = "db.tar.gz"
)

var dbFiles = []string{"trivy.db", "metadata.json"}

// PullDB downloads the DB artifact from the first repository that serves it and installs
// it in cacheDir/db, where check and the trivy CLI read it. The DB there is replaced only
// once the new one has been read back whole: a failed pull leaves the old DB in place. It
// returns the DB and the repository it came from.
func PullDB(ctx context.Context, repos []name.Reference, cacheDir string, opts ...remote.Option) (images.DBInfo, name.Reference, error) {
	var errs []error
	for _, repo := range repos {
		info, err := pullDB(ctx, repo, cacheDir, opts)
		if err == nil {
			return info, repo, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", repo, err))
	}
	return images.DBInfo{}, nil, errors.Join(errs...)
}

func pullDB(ctx context.Context, repo name.Reference, cacheDir string, opts []remote.Option) (images.DBInfo, error) {
	img, err := remote.Image(repo, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return images.DBInfo{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return images.DBInfo{}, err
	}
	if len(layers) != 1 {
		return images.DBInfo{}, fmt.Errorf("not a vulnerability DB: %d layers, want 1", len(layers))
	}
	if mt, err := layers[0].MediaType(); err != nil || mt != dbLayerMediaType {
		return images.DBInfo{}, fmt.Errorf("not a vulnerability DB: layer media type %q, want %s", mt, dbLayerMediaType)
	}
	rc, err := layers[0].Compressed() // verified against the layer digest at EOF
	if err != nil {
		return images.DBInfo{}, err
	}
	defer rc.Close()
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return images.DBInfo{}, err
	}
	next, err := os.MkdirTemp(cacheDir, "db-pull-")
	if err != nil {
		return images.DBInfo{}, err
	}
	defer os.RemoveAll(next)
	if err := untarDB(rc, next); err != nil {
		return images.DBInfo{}, err
	}
	meta, err := readDB(next)
	if err != nil {
		return images.DBInfo{}, err
	}
	// As Trivy's own download does: the DB is not fetched again within the hour.
	meta.DownloadedAt = time.Now().UTC()
	if err := metadata.NewClient(next).Update(meta); err != nil {
		return images.DBInfo{}, err
	}
	dst := dbDir(cacheDir)
	old := dst + ".old"
	os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return images.DBInfo{}, err
	}
	if err := os.Rename(next, dst); err != nil {
		os.Rename(old, dst)
		return images.DBInfo{}, err
	}
	os.RemoveAll(old)
	return dbInfo(meta), nil
}

// untarDB writes the DB's two files from a tar+gzip stream into dir; any other entry is
// skipped, so a crafted archive cannot write elsewhere. The stream is read to its end: the
// layer's digest is checked there.
func untarDB(r io.Reader, dir string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a vulnerability DB layer: %w", err)
	}
	tr := tar.NewReader(gz)
	found := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the DB layer: %w", err)
		}
		if h.Typeflag != tar.TypeReg || (h.Name != dbFiles[0] && h.Name != dbFiles[1]) {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, h.Name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", h.Name, err)
		}
		found++
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("reading the DB layer: %w", err)
	}
	if found != len(dbFiles) {
		return fmt.Errorf("not a vulnerability DB layer: want %s and %s in it", dbFiles[0], dbFiles[1])
	}
	return nil
}

// ReadDB checks that dbDir holds a DB this build of Trivy reads (metadata of the schema
// version it was built for, a bolt file beside it) and says which DB it is.
func ReadDB(dbDir string) (images.DBInfo, error) {
	meta, err := readDB(dbDir)
	return dbInfo(meta), err
}

func readDB(dbDir string) (metadata.Metadata, error) {
	meta, err := metadata.NewClient(dbDir).Get()
	if err != nil {
		return meta, fmt.Errorf("no vulnerability DB in %s: %w", dbDir, err)
	}
	if meta.Version != tdb.SchemaVersion {
		return meta, fmt.Errorf("the vulnerability DB in %s has schema version %d; this kubegate reads version %d", dbDir, meta.Version, tdb.SchemaVersion)
	}
	bdb, err := bolt.Open(filepath.Join(dbDir, "trivy.db"), 0o444, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return meta, fmt.Errorf("the vulnerability DB's trivy.db in %s: %w", dbDir, err)
	}
	return meta, bdb.Close()
}

func dbInfo(meta metadata.Metadata) images.DBInfo {
	return images.DBInfo{
		Version:   fmt.Sprintf("v%d-%s", meta.Version, meta.UpdatedAt.UTC().Format("20060102T150405Z")),
		UpdatedAt: meta.UpdatedAt,
	}
}

// PushDB publishes the DB in cacheDir/db to the repository as Trivy publishes it, so that
// check --db-repository (and trivy --db-repository) download it from there: the way to
// mirror the DB into a registry that air-gapped runners reach. It returns the DB and the
// digest pushed.
func PushDB(ctx context.Context, cacheDir string, to name.Reference, opts ...remote.Option) (images.DBInfo, v1.Hash, error) {
	dir := dbDir(cacheDir)
	info, err := ReadDB(dir)
	if err != nil {
		return info, v1.Hash{}, err
	}
	art, err := packDB(dir)
	if err != nil {
		return info, v1.Hash{}, err
	}
	if err := remote.Write(to, art, append(opts, remote.WithContext(ctx))...); err != nil {
		return info, v1.Hash{}, err
	}
	d, err := art.Digest()
	return info, d, err
}

// packDB makes the artifact of the DB files in dbDir.
func packDB(dbDir string) (v1.Image, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range dbFiles {
		f, err := os.Open(filepath.Join(dbDir, name))
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime()})
		}
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("packing %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, "application/vnd.oci.image.manifest.v1+json")
	img = mutate.ConfigMediaType(img, dbConfigType)
	return mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(buf.Bytes(), dbLayerMediaType), MediaType: dbLayerMediaType,
		Annotations: map[string]string{"org.opencontainers.image.title": dbLayerTitle}})
}
