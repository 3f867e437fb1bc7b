package images

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kubegate/kubegate/gate/policy"
)

// Cache keeps verdicts on disk by image reference and digest, the matched rule, the content
// of its keys and trusted root, the DB version, the platforms and the live vulnerability
// ignores: an image whose digest has not changed is not resolved, verified or scanned again
// while none of these changes.
type Cache struct {
	Dir string
	TTL time.Duration // how long a verdict stays valid (signatures can be revoked); default 24h
	Now func() time.Time

	mu  sync.Mutex
	mem map[string]decodedEntry // verdicts decoded before, by key
}

// DefaultCacheDir is the user cache dir + kubegate/images.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "kubegate", "images")
}

type cacheEntry struct {
	Saved   time.Time `json:"saved"`
	Verdict *Verdict  `json:"verdict"`
}

// cacheVersion changes when what a verdict means changes.
// 3: the root-user message names the pod's part per container; 4: images whose RPM
// database is SQLite (RHEL 9, Fedora ≥ 36, Azure Linux) were scanned as having no OS
// packages, so their earlier verdicts may be passes they no longer are; 5: verdicts record
// the vulnerability IDs the policy ignored (verdict attestations carry them).
const cacheVersion = "5"

// keyParts is everything a verdict depends on besides the digest. The reference is in it
// because verdicts' messages name it; Trust is the content of every key and trusted root
// the rule's signature is verified with, so that a key swapped under the same path does
// not pass from cache.
type keyParts struct {
	V, Ref, Trust, DB string
	Rule              *policy.ImageRule
	Platforms         []Platform
	LiveIgnores       []string
}

func (k keyParts) key(digest string) string {
	b, _ := json.Marshal(struct {
		keyParts
		Digest string
	}{k, digest})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Get returns the verdict stored under key, when it is still valid. The file on disk is
// the truth: a verdict decoded before is reused only while its file is unchanged (a
// long-running webhook asks for the same verdicts at every review; deleting the cache
// directory still forces a check).
func (c *Cache) Get(key string) (*Verdict, bool) {
	path := filepath.Join(c.Dir, key+".json")
	st, err := os.Stat(path)
	if err != nil {
		return nil, false
	}
	e, ok := c.decoded(key, st)
	if !ok {
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, &e) != nil || e.Verdict == nil {
			return nil, false
		}
		c.remember(key, st, e)
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	if c.now().Sub(e.Saved) > ttl {
		return nil, false
	}
	v := *e.Verdict // the caller's own copy: it sets Image and Cached and may add problems
	v.Problems = slices.Clip(v.Problems)
	return &v, true
}

// decodedEntry is a verdict file as it was read, and the file's size and time then.
type decodedEntry struct {
	size    int64
	modTime time.Time
	entry   cacheEntry
}

// maxDecoded bounds the verdicts a process keeps decoded.
const maxDecoded = 4096

func (c *Cache) decoded(key string, st os.FileInfo) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.mem[key]
	if !ok || d.size != st.Size() || !d.modTime.Equal(st.ModTime()) {
		return cacheEntry{}, false
	}
	return d.entry, true
}

func (c *Cache) remember(key string, st os.FileInfo, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem == nil || len(c.mem) >= maxDecoded {
		c.mem = map[string]decodedEntry{}
	}
	c.mem[key] = decodedEntry{size: st.Size(), modTime: st.ModTime(), entry: e}
}

// Put stores a verdict; a cache that cannot be written only costs time.
func (c *Cache) Put(key string, v *Verdict) {
	b, err := json.Marshal(cacheEntry{Saved: c.now(), Verdict: v})
	if err != nil || os.MkdirAll(c.Dir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(c.Dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), filepath.Join(c.Dir, key+".json")) != nil {
		os.Remove(tmp.Name())
	}
}
