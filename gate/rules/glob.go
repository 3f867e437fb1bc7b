package rules

import "path/filepath"

// matchesGlob says whether name matches one of the policy's globs.
func matchesGlob(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
	}
	return false
}
