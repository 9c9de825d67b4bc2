//go:build !js && !wasip1

package gpu

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// Benchmarks of the device present beside the CPU engine:
//
//	go test ./gpu -run '^$' -bench . -benchtime 20x
//
// CUSPRUN_BENCH_MM="n,in,out" sets the matmul size (default 64,512,1536:
// 64 tokens through a 512->1536 projection); CUSPRUN_BENCH_SHAPE a synth
// shape for the layer (default small) and CUSPRUN_BENCH_TOKENS its batch.

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

// randomLayer is a llama-family layer of the config with random bf16
// weights, built in memory (no file).
func randomLayer(c *model.Config, seed uint64) *model.Layer {
	r := rand.New(rand.NewPCG(seed, 9))
	H, hd := c.Hidden, c.HeadDim
	mk := func(name string, rows, cols int, scale float32) *model.Weight {
		raw, _ := tensor.Encode(nil, randVec(r, rows*cols, scale), tensor.BF16)
		return &model.Weight{Name: name, DType: tensor.BF16, Rows: rows, Cols: cols, Raw: raw}
	}
	ones := func(name string, n int) *model.Weight {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		raw, _ := tensor.Encode(nil, v, tensor.BF16)
		return &model.Weight{Name: name, DType: tensor.BF16, Rows: 1, Cols: n, Raw: raw}
	}
	L := &model.Layer{Heads: c.Heads, KVHeads: c.KVHeads, FFN: c.FFN}
	nq, nkv := c.Heads*hd, c.KVHeads*hd
	s := 1 / float32(H)
	L.AttnNorm, L.FFNNorm = ones("attn_norm", H), ones("ffn_norm", H)
	L.Q, L.K, L.V = mk("q", nq, H, s), mk("k", nkv, H, s), mk("v", nkv, H, s)
	L.O = mk("o", H, nq, 1/float32(nq))
	L.Gate, L.Up = mk("gate", c.FFN, H, s), mk("up", c.FFN, H, s)
	L.Down = mk("down", H, c.FFN, 1/float32(c.FFN))
	return L
}

func BenchmarkLayer(b *testing.B) {
	shape, tokens := "small", 128
	if s := os.Getenv("CUSPRUN_BENCH_SHAPE"); s != "" {
		shape = s
	}
	if s := os.Getenv("CUSPRUN_BENCH_TOKENS"); s != "" {
		fmt.Sscan(s, &tokens)
	}
	c, err := synth.Config(synth.Options{Family: "llama", Shape: shape, Layers: 1})
	if err != nil {
		b.Fatal(err)
	}
	L := randomLayer(c, 1)
	// Four documents, as scoring packs them.
	var docs []ops.Span
	for i := 0; i < 4; i++ {
		docs = append(docs, ops.Span{Start: i * tokens / 4, Len: (i+1)*tokens/4 - i*tokens/4})
	}
	r := rand.New(rand.NewPCG(2, 2))
	h := randVec(r, tokens*c.Hidden, 1)
	for _, eng := range []string{"cpu", "gpu"} {
		b.Run(fmt.Sprintf("%s/%s/%dtok", eng, shape, tokens), func(b *testing.B) {
			var be model.Backend = model.CPU{}
			if eng == "gpu" {
				be = NewOn(device(b))
			}
			s, err := be.Start(c, append([]float32(nil), h...), docs)
			if err != nil {
				b.Fatal(err)
			}
			defer be.Free(s)
			layer := func() {
				st := model.NewStats(L, c.HeadDim, len(docs))
				if err := be.Layer(s, L, st); err != nil {
					b.Fatal(err)
				}
			}
			layer() // warm up (compiles kernels)
			b.ResetTimer()
			t0 := time.Now()
			for range b.N {
				layer()
			}
			b.ReportMetric(float64(tokens*b.N)/time.Since(t0).Seconds(), "tokens/s")
		})
	}
}
