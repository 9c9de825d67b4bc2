package job

import (
	"context"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
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

// TestRefitMACsOfAPlanAndARatio: the estimate for a ratio is the count for
// a plan that removes that share of every layer's neurons and groups; the
// calibration tokens counted before a job are the ones the job scores.
func TestRefitMACsOfAPlanAndARatio(t *testing.T) {
	c := &model.Config{Hidden: 256, Layers: 4, Heads: 8, KVHeads: 4, HeadDim: 32, FFN: 768, Vocab: 32000, Gated: true}
	keepFFN, keepGroups := make([][]int, c.Layers), make([][]int, c.Layers)
	for l := range keepFFN {
		for i := 0; i < c.FFN/2; i++ {
			keepFFN[l] = append(keepFFN[l], 2*i)
		}
		keepGroups[l] = []int{1, 3}
	}
	plan, err := prune.PlanFor(c, keepFFN, keepGroups, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, want := RefitMACs(c, nil, 0.5, 100, 1), RefitMACs(c, plan, 0, 100, 1)
	if got != want || want[2] <= 0 {
		t.Fatalf("for ratio 0.5: %v; for the plan keeping half: %v", got, want)
	}
	if fwd := RefitMACs(c, plan, 0, 100, 1)[0]; fwd != 100*LayerMACs(c) {
		t.Fatalf("the refit's forward is %d multiply-adds, scoring's layers %d", fwd, 100*LayerMACs(c))
	}

	folder, m, tok := openSynth(t)
	o := Options{Language: "de", Ratio: 0.3, Format: "zip", MaxTokens: 48, MaxDocs: 9}
	n, err := CalibrationTokens(tok, m.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Plan(context.Background(), folder, m, tok, model.CPU{}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != j.Result.Calibration["tokens"] || n == 0 {
		t.Fatalf("counted %d calibration tokens before the job, the job scored %d", n, j.Result.Calibration["tokens"])
	}
}
