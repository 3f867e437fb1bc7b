package policy

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// ReadKey reads a public key reference of a signature rule: a PEM file (relative paths
// from baseDir, the policy file's directory) or env://VAR. It returns the PEM as read, so
// that callers can tell a changed key by its content, and the parsed key.
func ReadKey(ref, baseDir string) ([]byte, crypto.PublicKey, error) {
	pemBytes, err := KeyPEM(ref, baseDir)
	if err != nil {
		return nil, nil, err
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("not a PEM public key: %v", err)
	}
	return pemBytes, pub, nil
}

// KeyPEM reads what a key reference holds, without parsing it.
func KeyPEM(ref, baseDir string) ([]byte, error) {
	switch env, isEnv := strings.CutPrefix(ref, "env://"); {
	case strings.TrimSpace(ref) == "":
		return nil, errors.New("empty key reference: want a PEM file or env://VAR")
	case isEnv:
		v := os.Getenv(env)
		if v == "" {
			return nil, fmt.Errorf("environment variable %s is empty", env)
		}
		return []byte(v), nil
	default:
		path := ref
		if baseDir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the public key %s: %v", path, errors.Unwrap(err))
		}
		return b, nil
	}
}
