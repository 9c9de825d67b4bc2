//go:build !js && !wasip1

package compute

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/tensor"
)

// A benchmark of the device's matmul kernels beside the CPU engine's:
//
//	go test ./gpu/internal/compute -run '^$' -bench MatMul -benchtime 20x
//
// CUSPRUN_BENCH_MM="n,in,out" sets the size (default 64,512,1536: 64
// tokens through a 512->1536 projection).

func benchDims(b *testing.B) (n, in, out int) {
	n, in, out = 64, 512, 1536
	if s := os.Getenv("CUSPRUN_BENCH_MM"); s != "" {
		if _, err := fmt.Sscanf(s, "%d,%d,%d", &n, &in, &out); err != nil {
			b.Fatalf("CUSPRUN_BENCH_MM=%q: %v", s, err)
		}
	}
	return
}

func BenchmarkMatMul(b *testing.B) {
	n, in, out := benchDims(b)
	flop := 2 * float64(n) * float64(in) * float64(out)
	r := rand.New(rand.NewPCG(1, 1))
	x := randVec(r, n*in, 1)
	wf := randVec(r, out*in, 0.1)
	b.Run(fmt.Sprintf("cpu/%dx%dx%d", n, in, out), func(b *testing.B) {
		y := make([]float32, n*out)
		b.ResetTimer()
		for range b.N {
			ops.MatMul(y, x, wf, nil, n, in, out)
		}
		b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	for _, kern := range []string{"simple", "regs", "tiled"} {
		b.Run(fmt.Sprintf("gpu-bf16-%s/%dx%dx%d", kern, n, in, out), func(b *testing.B) {
			d := device(b)
			defer func(v string) { d.MatMulKernel = v }(d.MatMulKernel)
			d.MatMulKernel = kern
			raw, err := tensor.Encode(nil, wf, tensor.BF16)
			if err != nil {
				b.Fatal(err)
			}
			W, err := d.UploadMatrix(raw, tensor.BF16, out, in, "w")
			if err != nil {
				b.Fatal(err)
			}
			defer W.Release()
			X, Y := upF32(b, d, x), zeros(b, d, n*out)
			// Warm up: compile (and a CPU driver's JIT) outside the timing.
			run(b, d, func(p *Pass) { p.MatMul(Y, X, W, MM{N: n, K: in}) })
			readF32(b, d, Y, 1)
			b.ResetTimer()
			// Batches of dispatches per submit, as a layer records them.
			const per = 8
			for i := 0; i < b.N; i += per {
				run(b, d, func(p *Pass) {
					for j := i; j < min(i+per, b.N); j++ {
						p.MatMul(Y, X, W, MM{N: n, K: in})
					}
				})
			}
			readF32(b, d, Y, 1)
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.Logf("%s: %dx%dx%d bf16 %s", d.Name(), n, in, out, kern)
		})
	}
}
