package model

import (
	"math"
	"testing"
)

// TestLSERow: folding a row chunk by chunk gives the log-sum-exp of the
// whole row computed directly in float64, and the target's logit, whatever
// chunk holds the maximum; a NaN logit makes the row NaN.
func TestLSERow(t *testing.T) {
	row := []float32{-3, 0.5, 2, -7, 11, 1, -1, 4, 10.5, 0}
	want := 0.0
	for _, v := range row {
		want += math.Exp(float64(v) - 11)
	}
	want = 11 + math.Log(want)
	for _, chunk := range []int{1, 3, 4, len(row)} {
		mx, se, tl := []float64{math.Inf(-1)}, []float64{0}, []float64{0}
		for lo := 0; lo < len(row); lo += chunk {
			hi := min(lo+chunk, len(row))
			lseRow(row[lo:hi], 0, lo, 7, mx, se, tl)
		}
		if got := mx[0] + math.Log(se[0]); math.Abs(got-want) > 1e-12 {
			t.Errorf("chunks of %d: log-sum-exp %v, want %v", chunk, got, want)
		}
		if tl[0] != 4 {
			t.Errorf("chunks of %d: target logit %v, want 4", chunk, tl[0])
		}
	}
	mx, se, tl := []float64{math.Inf(-1)}, []float64{0}, []float64{0}
	lseRow([]float32{1, float32(math.NaN()), 2}, 0, 0, 0, mx, se, tl)
	if got := mx[0] + math.Log(se[0]); !math.IsNaN(got) {
		t.Errorf("a NaN logit gave %v, want NaN", got)
	}
}
