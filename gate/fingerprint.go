package gate

import (
	"strconv"

	"github.com/kubegate/kubegate/gate/finding"
)

// setFingerprints gives each finding of a sorted list its fingerprint, a hash of its Key,
// and its previous one, of its FileKey. An input may hold the same object twice (two
// documents, or two files, one name); their findings share a key, so the n-th of them
// also hashes n. Sorting keeps that order when lines move.
func setFingerprints(fs []finding.Finding) {
	seen, seenFile := make(map[string]int, len(fs)), make(map[string]int, len(fs))
	for i := range fs {
		fs[i].Fingerprint = numbered(fs[i].Key(), seen)
		fs[i].PreviousFingerprint = numbered(fs[i].FileKey(), seenFile)
	}
}

func numbered(key string, seen map[string]int) string {
	n := seen[key]
	seen[key] = n + 1
	if n > 0 {
		key += "\x00" + strconv.Itoa(n)
	}
	return finding.Fingerprint(key)
}
