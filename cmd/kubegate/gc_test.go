package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestGCPercentAbove: past the limit, the first collection sets GOGC to the percent
// given; below it, GOGC stays as main set it.
func TestGCPercentAbove(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	gcPercentAbove(1<<40, 50) // never reached
	runtime.GC()
	runtime.GC()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Fatalf("below the limit GOGC = %d, want 200", got)
	}
	gcPercentAbove(1, 50) // any live heap is past it
	// The finalizer runs on its own goroutine after a collection.
	for range 100 {
		runtime.GC()
		runtime.Gosched()
		if got := debug.SetGCPercent(200); got == 50 {
			return
		}
	}
	t.Fatal("past the limit GOGC stayed at 200")
}
