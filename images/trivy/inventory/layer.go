// Package inventory reads what is installed in a container image, layer by layer: the OS
// release, the OS package databases (apk, dpkg, rpm) and the records language ecosystems
// leave in an image (Go and Rust binaries, package.json files, Python metadata, gemspecs).
// It merges the layers as Trivy's applier does and returns Trivy's types, so that Trivy's
// detectors match them against its DB.
//
// It stands in for Trivy's fanal analyzer framework, which kubegate used before with the
// same fourteen analyzers: fanal's analyzer package imports Trivy's misconfiguration
// engine (OPA, the Terraform and cloud SDKs, Helm's action package and with it kubectl and
// controller-runtime), which made up half of the binary and of its start-up. The file
// parsers are Trivy's own (pkg/dependency/parser, go-rpmdb, go-deb-version); what is
// written here is the walk over the layers' files, which file goes to which parser, and the
// merge. Each rule is Trivy v0.74's, named where it is; the parity test holds this package
// to fanal's results on real images.
package inventory

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/fanal/utils"
	xio "github.com/aquasecurity/trivy/pkg/x/io"
)

// Version changes whenever what a layer's analysis holds changes: it is part of the layer
// cache's key, so an older analysis is never read as a newer one.
const Version = 1

// Layer is what one layer adds to the image's filesystem and what it removes from it.
type Layer struct {
	OS           ftypes.OS            `json:",omitzero"`
	PackageInfos []ftypes.PackageInfo `json:",omitempty"` // one per OS package DB file
	Applications []ftypes.Application `json:",omitempty"` // one per language package file
	Whiteouts    []string             `json:",omitempty"` // paths the layer deletes
	OpaqueDirs   []string             `json:",omitempty"` // directories the layer empties first
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// spillSize: larger files are read from a temporary file rather than kept in memory
// (Trivy's walker does the same at 100 MiB). A variable for the tests.
var spillSize int64 = 100 << 20

// AnalyzeLayer reads one layer's (uncompressed) tar stream. A file a parser cannot read is
// skipped, as Trivy skips it; a stream that is not a readable tar is an error.
func AnalyzeLayer(ctx context.Context, r io.Reader) (Layer, error) {
	var l Layer
	var skipped []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return l, nil
		}
		if err != nil {
			return Layer{}, fmt.Errorf("reading the layer: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return Layer{}, err
		}
		p := strings.TrimLeft(path.Clean(hdr.Name), "/")
		dir, base := path.Split(p)
		switch {
		case base == opaqueMarker:
			l.OpaqueDirs = append(l.OpaqueDirs, dir)
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			l.Whiteouts = append(l.Whiteouts, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			// Trivy's default skipped directories, matched on the directory's own entry.
			if p == "proc" || p == "sys" || p == "dev" || base == ".git" {
				skipped = append(skipped, p+"/")
			}
			continue
		case tar.TypeReg:
		default:
			continue
		}
		if underAny(p, skipped) {
			continue
		}
		info := hdr.FileInfo()
		parse := parserFor(p, info)
		if parse == nil {
			continue
		}
		f, err := open(tr, hdr.Size)
		if err != nil {
			return Layer{}, fmt.Errorf("reading %s in the layer: %w", p, err)
		}
		err = parse(ctx, &l, p, info, f)
		f.Close()
		if err != nil {
			return Layer{}, err
		}
	}
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

// file is a layer's file, readable at any offset (the binary parsers need that).
type file interface {
	xio.ReadSeekerAt
	Close() error
}

// memFile is a file read into memory.
type memFile struct{ xio.ReadSeekerAt }

func (memFile) Close() error { return nil }

type tmpFile struct{ *os.File }

func (f tmpFile) Close() error { f.File.Close(); return os.Remove(f.Name()) }

func open(r io.Reader, size int64) (file, error) {
	if size <= spillSize {
		var b strings.Builder
		b.Grow(int(size))
		if _, err := io.Copy(&b, r); err != nil {
			return nil, err
		}
		return memFile{strings.NewReader(b.String())}, nil
	}
	return spill(r)
}

// spill writes r to a temporary file, removed when it is closed.
func spill(r io.Reader) (tmpFile, error) {
	f, err := os.CreateTemp("", "kubegate-layer-file-")
	if err != nil {
		return tmpFile{}, err
	}
	if _, err := io.Copy(f, r); err != nil {
		tmpFile{f}.Close()
		return tmpFile{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		tmpFile{f}.Close()
		return tmpFile{}, err
	}
	return tmpFile{f}, nil
}

// parser reads one file into the layer's analysis. It returns an error only for what
// must stop the scan (the context ending, the disk failing); a file it cannot parse it
// skips, as Trivy's analyzers do.
type parser func(ctx context.Context, l *Layer, p string, info fs.FileInfo, f file) error

// parserFor is the analyzers' Required rules: which file goes to which parser. A file
// several analyzers want (an executable: Go and Rust) goes to each of them.
func parserFor(p string, info fs.FileInfo) parser {
	if rel, ok := releaseFiles[p]; ok {
		return osRelease(rel)
	}
	switch {
	case p == "lib/apk/db/installed" || p == "usr/lib/apk/db/installed":
		return apkInstalled
	case isDpkgStatus(p):
		return dpkgStatus
	case isRPMDB(p):
		return rpmDB
	}
	var ps []parser
	if utils.IsExecutable(info) {
		ps = append(ps, goBinary, rustBinary)
	}
	if lp := languageFile(p); lp != nil {
		ps = append(ps, lp)
	}
	switch len(ps) {
	case 0:
		return nil
	case 1:
		return ps[0]
	}
	return func(ctx context.Context, l *Layer, p string, info fs.FileInfo, f file) error {
		for _, parse := range ps {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if err := parse(ctx, l, p, info, f); err != nil {
				return err
			}
		}
		return nil
	}
}
