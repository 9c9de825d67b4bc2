package prune

import (
	"math/rand/v2"
	"testing"

	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestAlignFFN: every layer keeps a multiple of 32 neurons, the nearest to
// what Select kept, and the kept ones are the highest scored.
func TestAlignFFN(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "small"}) // FFN 352
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	sc := randomUnitScores(r, c)
	for _, ratio := range []float64{0, 0.1, 0.2, 0.37, 0.6} {
		p, err := Select(c, sc, "cusprun", ratio, "uniform", true)
		if err != nil {
			t.Fatal(err)
		}
		q := AlignFFN(p, sc, 32)
		for l := range q.KeepFFN {
			n, was := len(q.KeepFFN[l]), len(p.KeepFFN[l])
			if n%32 != 0 || n < 32 || n > c.FFN || abs(n-was) > 16 {
				t.Fatalf("ratio %v layer %d: %d neurons kept (Select kept %d)", ratio, l, n, was)
			}
			kept := map[int]bool{}
			lowKept := 2.0
			for _, i := range q.KeepFFN[l] {
				kept[i] = true
				lowKept = min(lowKept, sc.FFN[l][i])
			}
			for i, s := range sc.FFN[l] {
				if !kept[i] && s > lowKept {
					t.Fatalf("ratio %v layer %d: neuron %d (score %.3f) dropped while one of score %.3f is kept", ratio, l, i, s, lowKept)
				}
			}
		}
		if q.To.FFN != len(q.KeepFFN[0]) {
			t.Fatalf("plan's config has FFN %d, keeps %d", q.To.FFN, len(q.KeepFFN[0]))
		}
	}
	if !QuantizedOutput("keep", tensor.Q4_K) || QuantizedOutput("keep", tensor.BF16) || !QuantizedOutput("q8_0", tensor.BF16) || QuantizedOutput("f16", tensor.Q4_K) {
		t.Fatal("QuantizedOutput")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
