package prune

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// removedOf lists the indices in [0, n) that keep does not hold.
func removedOf(keep []int, n int) []int {
	in := make([]bool, n)
	for _, k := range keep {
		in[k] = true
	}
	var out []int
	for j := 0; j < n; j++ {
		if !in[j] {
			out = append(out, j)
		}
	}
	return out
}

// compensated is FLAP's bias written out from its definition:
// b'_i = b_i + sum over removed input columns j of W[i,j] * mean_j.
func compensated(b, w *model.Weight, mean []float64, removed []int) []float64 {
	bf, wf := b.F32(), w.F32()
	out := make([]float64, len(bf))
	for i := range out {
		out[i] = float64(bf[i])
		for _, j := range removed {
			out[i] += float64(wf[i*w.Cols+j]) * mean[j]
		}
	}
	return out
}

// TestFLAPCompensatesBiases prunes a family with output biases (phi) by
// FLAP and checks every exported fc2 and dense bias against the
// compensated bias derived from the source weights and the scorer's means,
// in the output's dtype; the compensation moves the biases by many of that
// dtype's steps, so an export that adds nothing fails.
func TestFLAPCompensatesBiases(t *testing.T) {
	m, folder, _ := synthModel(t, synth.Options{Family: "phi", Shape: "tiny", Layers: 2}, "hf")
	r := rand.New(rand.NewPCG(9, 10))
	sc, err := Score(context.Background(), m, model.CPU{}, randomSeqs(r, 6, 24, m.Config.Vocab), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	for _, format := range []string{"hf", "gguf"} {
		t.Run(format, func(t *testing.T) {
			ffnOnly := format == "gguf" // llama.cpp's phi2 keeps every head
			plan, err := Select(c, sc.Scores("flap", 1), "flap", 0.3, "uniform", ffnOnly)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "expert")
			o := Output{Path: out, Format: format, Name: "test", Files: SmallFiles(folder)}
			if format == "gguf" {
				out += ".gguf"
				o.Path = out
				v, _ := synth.NewVocab(c.Vocab)
				o.VocabMeta = v.GGUF
			}
			sl := &Slicer{M: m, Plan: plan, Source: folder,
				Compensate: func(l int) ([]float64, []float64) { return sc.FFNMean(l), sc.OMean(l) }}
			if err := Export(sl, o); err != nil {
				t.Fatal(err)
			}
			pm, err := model.OpenPath(out)
			if err != nil {
				t.Fatal(err)
			}
			for l := 0; l < c.Layers; l++ {
				src, err := m.LoadLayer(l)
				if err != nil {
					t.Fatal(err)
				}
				got, err := pm.LoadLayer(l)
				if err != nil {
					t.Fatal(err)
				}
				qh, _ := heads(plan.KeepGroups[l], c.Group())
				oRemoved := removedOf(dims(qh, c.HeadDim), c.Heads*c.HeadDim)
				fRemoved := removedOf(plan.KeepFFN[l], c.FFN)
				if len(fRemoved) == 0 || (!ffnOnly && len(oRemoved) == 0) {
					t.Fatalf("layer %d: the plan removes %d neurons and %d o_proj columns; the test needs some", l, len(fRemoved), len(oRemoved))
				}
				for _, b := range []struct {
					name     string
					src, w   *model.Weight
					got      *model.Weight
					mean     []float64
					removed  []int
					mustMove bool
				}{
					{"fc2 bias", src.DownB, src.Down, got.DownB, sc.FFNMean(l), fRemoved, true},
					{"dense bias", src.OB, src.O, got.OB, sc.OMean(l), oRemoved, !ffnOnly},
				} {
					want := compensated(b.src, b.w, b.mean, b.removed)
					gf, orig := b.got.F32(), b.src.F32()
					moved := 0
					for i, w := range want {
						// the output holds w rounded to the source's dtype (the
						// slicer computes in it) and then to its own: one step
						step := math.Max(dtypeStep(float32(w), b.got.DType), dtypeStep(float32(w), b.src.DType))
						if math.Abs(float64(gf[i])-w) > step {
							t.Fatalf("layer %d %s[%d] = %g, want %g (source %g; dtype %s)", l, b.name, i, gf[i], w, orig[i], b.got.DType)
						}
						if math.Abs(w-float64(orig[i])) > 4*step {
							moved++
						}
					}
					if b.mustMove && moved < len(want)/2 {
						t.Fatalf("layer %d %s: compensation moves only %d of %d entries by more than 4 steps; the test cannot tell it from none", l, b.name, moved, len(want))
					}
				}
			}
		})
	}
}

// dtypeStep is the spacing of dtype d's values near v (for F32, a few
// float32 steps: the sum is taken in another order).
func dtypeStep(v float32, d tensor.DType) float64 {
	a := math.Abs(float64(v))
	switch d {
	case tensor.BF16:
		return math.Max(math.Ldexp(1, math.Ilogb(a)-7), 1e-30)
	case tensor.F16:
		return math.Max(math.Ldexp(1, math.Ilogb(a)-10), math.Ldexp(1, -24))
	}
	return math.Max(4*math.Ldexp(1, math.Ilogb(a)-23), 1e-30)
}
