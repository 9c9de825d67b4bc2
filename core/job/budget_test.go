package job

import (
	"testing"

	"github.com/cusprun/cusprun/core/model"
)

// TestEvalBudget: the multiply-adds of tiny-multi's shape counted by hand,
// and an evaluation sized by EvalSize costs no more than the scoring.
func TestEvalBudget(t *testing.T) {
	c := &model.Config{Hidden: 256, Layers: 4, Heads: 8, KVHeads: 4, HeadDim: 32, FFN: 768, Vocab: 32000, Gated: true}
	// per layer: q 256x256, k and v 256x128 each, o 256x256, gate/up/down 3 x 256x768
	perLayer := int64(256*256 + 2*256*128 + 256*256 + 3*256*768)
	if got := LayerMACs(c); got != 4*perLayer {
		t.Fatalf("LayerMACs = %d, want %d", got, 4*perLayer)
	}
	if got := HeadMACs(c); got != 32000*256 {
		t.Fatalf("HeadMACs = %d, want %d", got, 32000*256)
	}
	calib := 3751
	docs, tokens := EvalSize(c, calib, 512, 2)
	// with the log-sum-exp's exp and add per logit (32 multiply-adds each)
	eval := 2 * int64(2*docs*tokens) * (LayerMACs(c) + HeadMACs(c) + 32000*32)
	score := int64(calib) * LayerMACs(c)
	if eval > score {
		t.Fatalf("EvalSize gave %d docs of %d tokens per slice: %d multiply-adds against scoring's %d", docs, tokens, eval, score)
	}
	if docs < 1 || tokens < 32 {
		t.Fatalf("EvalSize gave %d docs of %d tokens", docs, tokens)
	}
	// an ungated MLP has two matrices, not three
	c.Gated = false
	if got := LayerMACs(c); got != 4*(perLayer-256*768) {
		t.Fatalf("ungated LayerMACs = %d, want %d", got, 4*(perLayer-256*768))
	}
}
