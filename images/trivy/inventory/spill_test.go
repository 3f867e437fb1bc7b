package inventory

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A file larger than spillSize is parsed from a temporary file, which is gone afterwards.
func TestLargeFilesSpillToDisk(t *testing.T) {
	self, err := os.Executable() // a Go binary with build information
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	old := spillSize
	spillSize = 1 << 10
	defer func() { spillSize = old }()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "usr/bin/app", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	l, err := AnalyzeLayer(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Applications) != 1 || l.Applications[0].FilePath != "usr/bin/app" || len(l.Applications[0].Packages) == 0 {
		t.Fatalf("the Go binary read from disk: %+v", l.Applications)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "kubegate-layer-file-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
