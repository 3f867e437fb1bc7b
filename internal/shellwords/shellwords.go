// Package shellwords splits command lines and environment assignments the way a shell (or
// systemd's Environment=) does for the simple cases configuration files use: words are
// separated by blanks, quotes group and are removed, a backslash-newline continues the line.
// Variables, escapes inside quotes and globbing are not expanded.
package shellwords

import "strings"

// Split returns the words of s.
func Split(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\\':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
