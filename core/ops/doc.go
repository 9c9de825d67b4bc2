// Package ops holds the CPU kernels of the forward pass, one concern per file.
// Each is the reference twin of the WGSL shader of the same name in shaders/
// (matmul.go and shaders/matmul.wgsl compute the same thing), so GPU tests
// compare against these.
//
// Conventions: activations are row-major [tokens, width] float32 slices;
// weight matrices are row-major [out, in] as Hugging Face stores linear
// layers, so y = x W^T.
//
// Determinism: every kernel gives the same bits natively (with or without
// AVX2/AVX-512), under GOOS=wasip1 and under GOOS=js, so pruning decisions
// never depend on the engine. Sums have a defined order (dot.go: sixteen lane
// sums, a fixed reduction tree, then the tail), products are rounded before
// they are added (no fused multiply-add), and exp is exp32 (exp.go) rather
// than math.Exp, which is assembly on amd64. Build natively with the default
// GOAMD64=v1: with v3 the compiler may fuse multiply-adds inside the standard
// library's math.Tanh, Sin and Cos (GeluTanh, Rope) too.
package ops

import (
	"runtime"
	"sync"
)

// Threads caps how many goroutines a kernel uses; 0 means GOMAXPROCS.
var Threads = 0

// parallel splits [0, n) into contiguous chunks of at least grain items and
// runs body on each, on up to Threads goroutines.
func parallel(n, grain int, body func(lo, hi int)) { Parallel(n, grain, body) }

// Parallel is the same, for other packages' embarrassingly parallel loops
// (each chunk must write only its own part of the output).
func Parallel(n, grain int, body func(lo, hi int)) {
	workers := Threads
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if workers > chunks {
		workers = chunks
	}
	if workers <= 1 {
		if n > 0 {
			body(0, n)
		}
		return
	}
	// More chunks than workers balances uneven cores; each worker pulls the next chunk.
	per := (n + workers*4 - 1) / (workers * 4)
	if per < grain {
		per = grain
	}
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				lo := next
				next += per
				mu.Unlock()
				if lo >= n {
					return
				}
				body(lo, min(lo+per, n))
			}
		}()
	}
	wg.Wait()
}
