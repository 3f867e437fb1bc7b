// Package progress reports long work on stderr: on a terminal, one line rewritten in
// place; in a CI log (no terminal), plain lines, never more than one a second for the same
// count, so a log shows the work moving without a line per image.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Reporter writes progress; a nil Reporter writes nothing (--quiet).
type Reporter struct {
	w     io.Writer
	tty   bool
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	last    time.Time // when a count line was last written (not a terminal)
	pending bool      // a terminal line is open (no newline yet)
}

// New reports to w; tty says whether w is a terminal. Counts go out at most once per
// every on a log (default: 2 s; never less than 1 s).
func New(w io.Writer, tty bool, every time.Duration) *Reporter {
	return &Reporter{w: w, tty: tty, every: max(every, time.Second), now: time.Now}
}

// Stage reports the start or end of a stage, always on a line of its own.
func (r *Reporter) Stage(format string, args ...any) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending {
		fmt.Fprintln(r.w)
		r.pending = false
	}
	fmt.Fprintf(r.w, format+"\n", args...)
}

// Count reports done of total: on a terminal every call rewrites the line; on a log a
// line is written at the first call, at most once per interval after it, and at the end.
func (r *Reporter) Count(what string, done, total int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	final := done >= total
	if r.tty {
		fmt.Fprintf(r.w, "\r%s: %d/%d", what, done, total)
		r.pending = !final
		if final {
			fmt.Fprintln(r.w)
		}
		return
	}
	now := r.now()
	if !final && !r.last.IsZero() && now.Sub(r.last) < r.every {
		return
	}
	r.last = now
	fmt.Fprintf(r.w, "%s: %d/%d\n", what, done, total)
}
