package prune

import (
	"math/rand/v2"
	"testing"

	"github.com/cusprun/cusprun/core/ops"
)

// TestRerankAwareDropsWhatTheRefitRepairs: neuron 5 copies neuron 0 on
// every token and is the most important of the layer by Cus-Prun's raw
// rule, neuron 1 is the least important but independent of the others.
// Asked to remove one, the aware rule removes one of the two copies (the
// refit moves its weight onto the other at no cost), not neuron 1.
func TestRerankAwareDropsWhatTheRefitRepairs(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	F, H, n := 6, 3, 200
	a := make([]float32, n*F)
	for tk := 0; tk < n; tk++ {
		for k := 0; k < 5; k++ {
			a[tk*F+k] = float32(r.NormFloat64())
		}
		a[tk*F+1] *= 0.3
		a[tk*F+0] *= 3
		a[tk*F+5] = a[tk*F+0]
	}
	g := newGram(F, nil)
	g.add(a, n)
	spans := []ops.Span{{Start: 0, Len: 120}, {Start: 120, Len: 80}}
	energy := [][]float64{make([]float64, F), make([]float64, F)}
	docEnergy(energy, spans, a[:50*F], 0, 50, F)
	docEnergy(energy, spans, a[50*F:], 50, n-50, F)
	w := make([]float32, H*F)
	for i := range w {
		w[i] = float32(1 + r.Float64())
	}
	keep, err := rerankAware(w, H, F, g.full(), energy, F-1, 1e-6, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(keep) != F-1 {
		t.Fatalf("kept %v, want %d neurons", keep, F-1)
	}
	gone := -1
	for k, want := 0, 0; k < F; k++ {
		if want < len(keep) && keep[want] == k {
			want++
			continue
		}
		gone = k
	}
	if gone != 0 && gone != 5 {
		t.Errorf("removed neuron %d (kept %v), want one of the copies 0 and 5", gone, keep)
	}
	// Asked to remove two in two rounds, it removes one copy, then the
	// other copy is no longer repairable and stays: neuron 1 goes.
	keep, err = rerankAware(w, H, F, g.full(), energy, F-2, 1e-6, 2)
	if err != nil {
		t.Fatal(err)
	}
	has := map[int]bool{}
	for _, k := range keep {
		has[k] = true
	}
	if len(keep) != F-2 || has[0] == has[5] || has[1] {
		t.Errorf("two rounds kept %v, want one of the copies 0 and 5, and not neuron 1", keep)
	}
	// The per-document energies are the sums over each document's rows.
	for d, sp := range spans {
		want := 0.0
		for tk := sp.Start; tk < sp.Start+sp.Len; tk++ {
			want += float64(a[tk*F+2]) * float64(a[tk*F+2])
		}
		if diff := energy[d][2] - want; diff > 1e-9*want || diff < -1e-9*want {
			t.Errorf("document %d: energy %g, want %g", d, energy[d][2], want)
		}
	}
}
