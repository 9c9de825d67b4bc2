package prune

import (
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// BenchmarkScoringOverhead runs the same documents through the model with
// and without gathering Cus-Prun's statistics (and ranking them), one after
// the other in each iteration (alternating the order), and reports the median time of each and
// their ratio (issue 4 aims at most 1.15).
//
//	go test ./core/prune -run '^$' -bench ScoringOverhead -benchtime 5x
func BenchmarkScoringOverhead(b *testing.B) {
	c, err := synth.Config(synth.Options{Family: "qwen2", Shape: "smollm-135m", Layers: 4})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 1, tensor.BF16, ""); err != nil {
		b.Fatal(err)
	}
	m, err := model.OpenPath(dir)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	docs := model.Pack(randomSeqs(r, 8, 256, c.Vocab))
	var plain, scoring []float64
	b.ResetTimer()
	plainRun := func() {
		t0 := time.Now()
		s, err := m.Run(model.CPU{}, docs, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		model.CPU{}.Free(s)
		plain = append(plain, time.Since(t0).Seconds())
	}
	scoringRun := func() {
		t0 := time.Now()
		sc := NewScorer(c)
		s, err := m.Run(model.CPU{}, docs, sc.Hook(), nil)
		if err != nil {
			b.Fatal(err)
		}
		model.CPU{}.Free(s)
		scoring = append(scoring, time.Since(t0).Seconds())
	}
	for i := 0; i < b.N; i++ {
		// Alternate which goes first, so drift in a shared machine's load
		// does not favour one side.
		if i%2 == 0 {
			plainRun()
			scoringRun()
		} else {
			scoringRun()
			plainRun()
		}
	}
	med := func(v []float64) float64 { sort.Float64s(v); return v[len(v)/2] }
	p, s := med(plain), med(scoring)
	b.ReportMetric(p*1000, "ms/plain")
	b.ReportMetric(s*1000, "ms/scoring")
	b.ReportMetric(s/p, "scoring/plain")
}
