package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// The per-document evaluation adds what prune.Evaluate adds, in its order.
func TestEvaluateDocsIsEvaluate(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(src, c, 3, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(src)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	seqs := make([][]int, 30)
	for i := range seqs {
		seqs[i] = make([]int, 2+rng.IntN(60))
		for k := range seqs[i] {
			seqs[i][k] = rng.IntN(c.Vocab)
		}
	}
	want, err := prune.Evaluate(context.Background(), m, model.CPU{}, seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	dl, got, err := evaluateDocs(context.Background(), m, model.CPU{}, seqs)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || len(dl.sum) != len(seqs) {
		t.Fatalf("per document %+v over %d docs, prune.Evaluate %+v", got, len(dl.sum), want)
	}
}

// Hand-made losses: equal experts differ by exactly 0 in every resample;
// an expert better on every document is ahead in every resample; one
// document that decides it alone is ahead in about the share of resamples
// that draw it (1 − (1 − 1/n)ⁿ ≈ 0.64 for n = 10) when the rest tie.
func TestPairedBootstrap(t *testing.T) {
	n := 10
	dense := docLoss{make([]float64, n), make([]int, n)}
	for i := range dense.sum {
		dense.sum[i], dense.n[i] = 20+float64(i), 10
	}
	shift := func(by func(i int) float64) docLoss {
		d := docLoss{make([]float64, n), dense.n}
		for i := range d.sum {
			d.sum[i] = dense.sum[i] + by(i)
		}
		return d
	}
	a := shift(func(int) float64 { return 1 })
	if d, lo, hi, ahead := pairedBootstrap(dense, a, a, 2000, 1); d != 0 || lo != 0 || hi != 0 || ahead != 0 {
		t.Errorf("equal experts: diff %g [%g, %g], ahead %g", d, lo, hi, ahead)
	}
	better := shift(func(int) float64 { return 0.5 })
	if d, lo, _, ahead := pairedBootstrap(dense, better, a, 2000, 1); !(d > 0) || !(lo > 0) || ahead != 1 {
		t.Errorf("better everywhere: diff %g, low %g, ahead %g", d, lo, ahead)
	}
	one := shift(func(i int) float64 {
		if i == 3 {
			return 0
		}
		return 1
	})
	_, lo, _, ahead := pairedBootstrap(dense, one, a, 4000, 1)
	if lo != 0 || ahead < 0.58 || ahead > 0.70 {
		t.Errorf("one deciding document: low %g, ahead %g (want about 0.65)", lo, ahead)
	}
}
