package progress

import (
	"strings"
	"testing"
	"time"
)

// TestLogLinesAreRateLimited: in a CI log, a count is a plain line at the start, at most
// one per interval, and at the end; stages always get a line.
func TestLogLinesAreRateLimited(t *testing.T) {
	var b strings.Builder
	r := New(&b, false, time.Second)
	clock := time.Unix(0, 0)
	r.now = func() time.Time { return clock }
	r.Stage("images: downloading the vulnerability DB")
	for i := 0; i <= 10; i++ {
		r.Count("images checked", i, 10)
		clock = clock.Add(300 * time.Millisecond)
	}
	want := "images: downloading the vulnerability DB\nimages checked: 0/10\nimages checked: 4/10\nimages checked: 8/10\nimages checked: 10/10\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestTerminalRewritesOneLine(t *testing.T) {
	var b strings.Builder
	r := New(&b, true, time.Second)
	r.Count("images checked", 0, 2)
	r.Count("images checked", 1, 2)
	r.Stage("images: vulnerability DB ready")
	r.Count("images checked", 2, 2)
	want := "\rimages checked: 0/2\rimages checked: 1/2\nimages: vulnerability DB ready\n\rimages checked: 2/2\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestNilReportsNothing(t *testing.T) {
	var r *Reporter
	r.Stage("x")
	r.Count("x", 1, 2)
}
