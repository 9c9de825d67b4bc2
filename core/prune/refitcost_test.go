package prune

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestLayerRefitMACsByHand: a gated layer of hidden 8, 4 heads of 2 over 2
// KV heads, FFN 16, keeping 12 neurons and 4 query dimensions: forward
// 8·(8+2·4) + 8·8 + 3·8·16 = 576 per token; Gram sums 4·8−8 + 12·16−72 =
// 144 per token; solves 64/6 + 16·8 + 4·4·8 = 266 for o_proj and
// 1728/6 + 144·8 + 12·4·8 = 1824 for down_proj.
func TestLayerRefitMACsByHand(t *testing.T) {
	c := &model.Config{Layers: 1, Hidden: 8, Heads: 4, KVHeads: 2, HeadDim: 2, FFN: 16, Gated: true}
	f, g, s := LayerRefitMACs(c, 0, 12, 4, 0)
	if f != 576 || g != 144 || s != 266+1824 {
		t.Fatalf("forward %d, grams %d, solves %d; want 576, 144, 2090", f, g, s)
	}
	if _, g, s := LayerRefitMACs(c, 0, 16, 8, 0); g != 0 || s != 0 {
		t.Fatalf("nothing removed: grams %d, solves %d, want none", g, s)
	}
	// With a reselection pool of 6 (n = 10 outside it, c = 6, R = 4
	// removed, q = 2 candidates kept): the FFN's whole Gram matrix,
	// 16·17/2 = 136 (+ o_proj's 24); its solves: the whole factor
	// 4096/6 = 682, the pool's inverse 216, the candidates' Gram matrix of
	// down_proj 36·8 = 288, the greedy from 6 to 3 candidates
	// (3·(36+25+16+9) = 258), the kept candidates' block 4·6/2 = 12 and
	// its factor 8/6 = 1, the right-hand side's Schur part 4·2·6/2 +
	// 4·4/2 = 32, and the refit's backward solve and product 144·8/2 +
	// 12·4·8 = 960: 2449 (+ o_proj's 266).
	if _, g, s := LayerRefitMACs(c, 0, 12, 4, 6); g != 160 || s != 266+2449 {
		t.Fatalf("with the pool: grams %d, solves %d; want 160, 2715", g, s)
	}
}

// TestRefitProgressCountsTheSolves: the refit's pass reports its progress
// in multiply-adds: never backwards, the total fixed, ending at it, and
// the step at the end of each layer (its solves) more than nothing.
func TestRefitProgressCountsTheSolves(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny", Layers: 3})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := synth.WriteHF(src, c, 2, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(src)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seqs := randomSeqs(rand.New(rand.NewPCG(1, 2)), 6, 40, c.Vocab)
	sc, err := Score(ctx, m, model.CPU{}, seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", 0.3, "uniform", false)
	if err != nil {
		t.Fatal(err)
	}
	var steps [][2]int
	if _, err := Compensate(ctx, m, model.CPU{}, seqs, plan, CompensateOptions{}, func(phase string, done, total int) {
		if phase == "compensate" {
			steps = append(steps, [2]int{done, total})
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(steps) < 2 {
		t.Fatalf("%d progress reports", len(steps))
	}
	total := steps[0][1]
	big := 0
	for i, s := range steps {
		if s[1] != total || (i > 0 && s[0] < steps[i-1][0]) {
			t.Fatalf("report %d: %d of %d after %d of %d", i, s[0], s[1], steps[i-1][0], total)
		}
		if i > 0 && s[0] > steps[i-1][0] {
			big++
		}
	}
	if last := steps[len(steps)-1]; last[0] != total || total <= 0 {
		t.Fatalf("the refit ended at %d of %d", last[0], last[1])
	}
	if big < 2*c.Layers {
		t.Fatalf("%d steps forward over %d layers: the solves did not move the count", big, c.Layers)
	}
}
