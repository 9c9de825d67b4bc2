package prune

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// TestCompensatedGGUFInLlamaCpp exports compensated experts as GGUF (llama
// uniform, where only FFN neurons go; llama adaptive, written as deci with
// attention groups removed too, so o_proj is refitted; qwen2 with its q/k/v
// biases) and runs each in llama.cpp: it must load, and its
// log-probabilities must equal the engine's on the same file (what
// `cusprun logits` prints) at every position; F32 weights, so llama.cpp
// computes in float32 as the engine does. The compensated file's logits
// must also differ from the plain export's, or nothing was compensated.
// Two of the cases let the refit rechoose the removed FFN neurons, as the
// CLI does by default.
func TestCompensatedGGUFInLlamaCpp(t *testing.T) {
	if err := llamaref.Available(llamaref.DepsDir()); err != nil {
		llamaref.Missing(t, err)
	}
	ids := []int{1, 17, 200, 45, 45, 3, 380, 99, 7, 150, 22, 301, 260, 261, 5, 9}
	for _, cs := range []struct {
		fam, placement string
		ratio          float64
		onePass        bool // the refit from Gram matrices kept by scoring (ScoreWithGrams)
		reselect       bool // the refit rechooses the removed FFN neurons (Plan.SetPool, the CLI's default)
	}{{"llama", "uniform", 0.45, false, false}, {"llama", "adaptive", 0.3, false, true}, {"qwen2", "uniform", 0.45, true, true}} {
		t.Run(cs.fam+"-"+cs.placement, func(t *testing.T) {
			c, err := synth.Config(synth.Options{Family: cs.fam, Shape: "small"})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "src.gguf")
			if err := synth.WriteGGUF(src, c, 9, tensor.F32); err != nil {
				t.Fatal(err)
			}
			folder, err := source.OpenPath(src)
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Open(folder)
			if err != nil {
				t.Fatal(err)
			}
			seqs := randomSeqs(rand.New(rand.NewPCG(7, 7)), 8, 64, c.Vocab)
			var sc *Scorer
			var opt CompensateOptions
			if cs.onePass {
				f, err := os.CreateTemp(dir, "grams")
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				sc, opt.Grams, err = ScoreWithGrams(context.Background(), m, model.CPU{}, seqs, f, nil)
				if err == nil && opt.Grams == nil {
					t.Fatal("no Gram matrices kept")
				}
			} else {
				sc, err = Score(context.Background(), m, model.CPU{}, seqs, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Select(c, sc.Scores("cusprun", 1), "cusprun", cs.ratio, cs.placement, false)
			if err != nil {
				t.Fatal(err)
			}
			if cs.reselect {
				plan.SetPool(sc.Scores("cusprun", 1), DefaultPool)
			}
			ranked := slices.Clone(plan.KeepFFN)
			comp, err := Compensate(context.Background(), m, model.CPU{}, seqs, plan, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if changed := !slices.EqualFunc(ranked, plan.KeepFFN, slices.Equal[[]int]); changed != cs.reselect {
				t.Fatalf("the refit changed the kept neurons: %v; asked to rechoose them: %v", changed, cs.reselect)
			}
			var logits [2][]float32
			var outs [2]string
			for i, refit := range []*Compensation{nil, comp} {
				outs[i] = filepath.Join(dir, []string{"plain.gguf", "comp.gguf"}[i])
				sl := &Slicer{M: m, Plan: plan, Source: folder, Refit: refit}
				if err := Export(sl, Output{Path: outs[i], Format: "gguf", Name: "test"}); err != nil {
					t.Fatal(err)
				}
				if err := Verify(outs[i], sl); err != nil {
					t.Fatal(err)
				}
				pm, err := model.OpenPath(outs[i])
				if err != nil {
					t.Fatal(err)
				}
				if logits[i], err = pm.AllLogits(model.CPU{}, ids); err != nil {
					t.Fatal(err)
				}
			}
			moved := 0.0
			for i := range logits[0] {
				moved = math.Max(moved, math.Abs(float64(logits[0][i]-logits[1][i])))
			}
			if moved < 1e-3 {
				t.Fatalf("compensated and plain exports compute the same logits (max diff %.3g)", moved)
			}
			_, pruned := plan.Pruned()
			ref, err := llamaref.Eval(outs[1], ids, llamaref.Options{})
			if err != nil {
				t.Fatal(err)
			}
			a := ref.Compare(logits[1], plan.To.Vocab, math.Inf(-1))
			t.Logf("groups pruned per layer %v; llama.cpp top-1 agrees at %d/%d, max |Δ log p| %.3g (logit scale %.3g); compensation moved logits by up to %.3g",
				pruned, a.Top1, len(ids), a.MaxDiff, a.Scale, moved)
			if a.Top1 != len(ids) {
				t.Errorf("top-1 differs from llama.cpp at %d positions", len(ids)-a.Top1)
			}
			if a.MaxDiff > 1e-4*a.Scale {
				t.Errorf("log-probabilities differ from llama.cpp by %.3g (tolerance %.3g)", a.MaxDiff, 1e-4*a.Scale)
			}
		})
	}
}
