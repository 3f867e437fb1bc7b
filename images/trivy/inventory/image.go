package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubegate/kubegate/internal/parallel"
)

// Image reads the image's layers (two at a time, as Trivy did for kubegate) and merges
// them. With a cache directory, a layer analysed before is read from there instead of
// from the registry: the analysis is kept under the layer's diff ID, which the layer's
// content is checked against before its analysis is kept.
func Image(ctx context.Context, img v1.Image, cacheDir string) (Detail, error) {
	layers, err := img.Layers()
	if err != nil {
		return Detail{}, fmt.Errorf("listing the image's layers: %w", err)
	}
	analysed := make([]Layer, len(layers))
	errs := make([]error, len(layers))
	parallel.ForN(2, len(layers), func(i int) {
		analysed[i], errs[i] = ReadLayer(ctx, layers[i], cacheDir)
	})
	if err := errors.Join(errs...); err != nil {
		return Detail{}, err
	}
	return Merge(analysed), nil
}

// ReadLayer analyses one layer, or reads its analysis from the cache directory.
func ReadLayer(ctx context.Context, l v1.Layer, cacheDir string) (Layer, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return Layer{}, fmt.Errorf("reading a layer's diff ID: %w", err)
	}
	cached := ""
	if cacheDir != "" && diffID.Algorithm == "sha256" {
		cached = filepath.Join(cacheDir, "kubegate-layers", "v"+strconv.Itoa(Version), diffID.Hex+".json")
		if b, err := os.ReadFile(cached); err == nil {
			var a Layer
			if json.Unmarshal(b, &a) == nil {
				return a, nil
			}
		}
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return Layer{}, fmt.Errorf("reading layer %s: %w", diffID, err)
	}
	defer rc.Close()
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	a, err := AnalyzeLayer(ctx, tee)
	if err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", diffID, err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // the rest of the stream, for the digest
		return Layer{}, fmt.Errorf("reading layer %s: %w", diffID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); diffID.Algorithm == "sha256" && got != diffID.Hex {
		return Layer{}, fmt.Errorf("layer %s: its content is sha256:%s, not its diff ID", diffID, got)
	}
	if cached != "" {
		keep(cached, a) // a cache that cannot be written only costs time
	}
	return a, nil
}

// keep writes the analysis whole or not at all (a temporary file, renamed).
func keep(file string, a Layer) {
	b, err := json.Marshal(a)
	if err != nil || os.MkdirAll(filepath.Dir(file), 0o755) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".layer-")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), file) != nil {
		os.Remove(tmp.Name())
	}
}
