// Package parallel runs independent pieces of work on all cores.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For calls f(i) for every i in [0, n) on up to GOMAXPROCS goroutines and returns when all
// calls have. Work is handed out one index at a time, so uneven pieces (a large document
// next to small ones) still keep every core busy.
func For(n int, f func(i int)) { ForN(runtime.GOMAXPROCS(0), n, f) }

// ForN is For on up to workers goroutines: for work that waits on the network rather than
// on the CPU, more goroutines than cores.
func ForN(workers, n int, f func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}
