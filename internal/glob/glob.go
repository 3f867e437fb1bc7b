// Package glob matches slash-separated names (image repositories, file paths) against the
// globs users write in kubegate.yaml and on the command line.
package glob

import (
	"path"
	"regexp"
	"strings"
)

// Match matches a slash-separated name (an image repository, a file path) against a glob:
// ** matches across "/", * and ? within one segment.
func Match(glob, name string) bool {
	if !strings.Contains(glob, "**") {
		ok, _ := path.Match(glob, name)
		return ok
	}
	re, err := globRegexp(glob)
	return err == nil && re.MatchString(name)
}

func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Valid reports whether a glob is well formed.
func Valid(glob string) bool {
	if strings.Contains(glob, "**") {
		_, err := globRegexp(glob)
		return err == nil
	}
	_, err := path.Match(glob, "")
	return err == nil
}

// MatchPath matches a file path as a user writes it in --skip-dirs, .gitignore style: a
// glob without "/" matches any path whose last element it matches; one with "/" matches
// the whole path (slash-separated, cleaned, without "./"), and a leading "**/" also
// matches at the top.
func MatchPath(glob, p string) bool {
	p = strings.TrimPrefix(path.Clean(strings.ReplaceAll(p, "\\", "/")), "./")
	if !strings.Contains(glob, "/") {
		return Match(glob, path.Base(p))
	}
	glob = strings.TrimPrefix(glob, "./")
	if Match(glob, p) {
		return true
	}
	rest, ok := strings.CutPrefix(glob, "**/")
	return ok && Match(rest, p)
}
