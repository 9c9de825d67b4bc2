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

// A benchmark of one decoder layer on the device beside the CPU engine
// (the matmul kernels alone: gpu/internal/compute):
//
//	go test ./gpu -run '^$' -bench Layer -benchtime 20x
//
// CUSPRUN_BENCH_SHAPE sets a synth shape for the layer (default small) and
// CUSPRUN_BENCH_TOKENS its batch.

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
				be = newOn(device(b))
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
