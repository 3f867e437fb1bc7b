package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/kubegate/kubegate/gate/finding"
)

// setFingerprints gives each finding of a sorted list its fingerprint: a hash of its Key.
// An input may hold the same object twice (two documents, one name); their findings share
// a key, so the n-th of them also hashes n. Sorting keeps that order when lines move.
func setFingerprints(fs []finding.Finding) {
	seen := make(map[string]int, len(fs))
	for i := range fs {
		key := fs[i].Key()
		n := seen[key]
		seen[key] = n + 1
		if n > 0 {
			key += "\x00" + strconv.Itoa(n)
		}
		fs[i].Fingerprint = Fingerprint(key)
	}
}

// Fingerprint is the fingerprint of a key: 128 bits of its SHA-256, in hex.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}
