package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestGCDefaultAbove: past the limit, the first collection sets GOGC back to 100; below
// it, GOGC stays as main set it.
func TestGCDefaultAbove(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	gcDefaultAbove(1 << 40) // never reached
	runtime.GC()
	runtime.GC()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Fatalf("below the limit GOGC = %d, want 200", got)
	}
	gcDefaultAbove(1) // any live heap is past it
	for range 3 {     // the finalizer runs on its own goroutine after a collection
		runtime.GC()
		runtime.Gosched()
	}
	for range 100 {
		if got := debug.SetGCPercent(200); got == 100 {
			return
		}
		runtime.GC()
	}
	t.Fatal("past the limit GOGC stayed at 200")
}
