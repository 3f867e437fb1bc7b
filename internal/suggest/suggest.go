// Package suggest finds the word a user probably meant ("did you mean failOn?"): the
// closest candidate by edit distance, or the one the word is a prefix of.
package suggest

import "strings"

// Closest returns the candidate nearest to word, if one is near enough to be a typo: at
// most a third of the word's length in edits (case ignored), or one that starts with the
// whole word. It returns "" when nothing is that close.
func Closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	best, bestDist := "", 0
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == w {
			return c
		}
		d := distance(w, lc)
		if len(w) >= 4 && strings.HasPrefix(lc, w) {
			d = min(d, 1)
		}
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(1, len(w)/3) {
		return ""
	}
	return best
}

// Hint is " (did you mean X?)" for the closest candidate, or "".
func Hint(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" {
		return " (did you mean " + c + "?)"
	}
	return ""
}

// distance is the Levenshtein distance, with a transposition of neighbours counting one.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
