package prune

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// BenchmarkCompensation times the scoring pass and the compensation pass
// (layer-by-layer forward, Gram matrices, Cholesky solves) on the same
// calibration tokens of a synthetic Qwen2.5-0.5B-shaped model (its layer
// widths, 4 of its 24 layers: both passes cost the same per layer), and
// the peak of live Go heap objects during each (sampled every 5 ms). On a
// shared machine wall-clock ratios move with the neighbours' load, so the
// process's CPU seconds in each pass are reported too (cpu-compensate/
// cpu-score): the work, whatever the waiting. Then the one-pass route:
// ScoreWithGrams (scores and every layer's Gram matrices, spilled to a
// temporary file) and Compensate from those matrices; its cost of
// compensation is (score+grams − score + refit) / score
// (onepass-compensate/score, and the same in CPU seconds).
//
//	go test ./core/prune -run '^$' -bench Compensation -benchtime 1x
func BenchmarkCompensation(b *testing.B) {
	c, err := synth.Config(synth.Options{Family: "qwen2", Shape: "qwen2.5-0.5b", Layers: 4})
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
	seqs := randomSeqs(rand.New(rand.NewPCG(1, 1)), 16, 512, c.Vocab)
	ctx := context.Background()
	var score, comp, cpuScore, cpuComp []float64
	var peakScore, peakComp, peakFused, peakSolve uint64
	var fusedScore, fusedSolve, cpuFusedScore, cpuFusedSolve []float64
	var reselectSolve, cpuReselectSolve []float64
	var peakReselect uint64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		t0, c0 := time.Now(), cpuSeconds()
		stop := peakHeap(&peakScore)
		sc, err := Score(ctx, m, model.CPU{}, seqs, nil)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		score = append(score, time.Since(t0).Seconds())
		cpuScore = append(cpuScore, cpuSeconds()-c0)
		plan, err := Select(c, sc.Scores("cusprun", 1), "cusprun", 0.2, "uniform", false)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		t0, c0 = time.Now(), cpuSeconds()
		stop = peakHeap(&peakComp)
		cp, err := Compensate(ctx, m, model.CPU{}, seqs, plan, CompensateOptions{}, nil)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		comp = append(comp, time.Since(t0).Seconds())
		cpuComp = append(cpuComp, cpuSeconds()-c0)
		b.ReportMetric(float64(cp.Bytes())/(1<<20), "MiB/refitted")
		b.ReportMetric(cp.PassSeconds, "s/comp-pass+gram")
		b.ReportMetric(cp.SolveSeconds, "s/comp-solve")
		b.ReportMetric(cp.GramSeconds, "s/comp-gram")

		// One pass: scores and Gram matrices together, then the solves.
		f, err := os.CreateTemp(b.TempDir(), "grams")
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		t0, c0 = time.Now(), cpuSeconds()
		stop = peakHeap(&peakFused)
		_, gs, err := ScoreWithGrams(ctx, m, model.CPU{}, seqs, f, nil)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		fusedScore = append(fusedScore, time.Since(t0).Seconds())
		cpuFusedScore = append(cpuFusedScore, cpuSeconds()-c0)
		runtime.GC()
		t0, c0 = time.Now(), cpuSeconds()
		stop = peakHeap(&peakSolve)
		if _, err := Compensate(ctx, m, model.CPU{}, seqs, plan, CompensateOptions{Grams: gs}, nil); err != nil {
			b.Fatal(err)
		}
		stop()
		fusedSolve = append(fusedSolve, time.Since(t0).Seconds())
		cpuFusedSolve = append(cpuFusedSolve, cpuSeconds()-c0)
		// The same refit with the reselection (the CLI's default pool).
		rp := *plan
		rp.KeepFFN = slices.Clone(plan.KeepFFN)
		rp.SetPool(sc.Scores("cusprun", 1), DefaultPool)
		runtime.GC()
		t0, c0 = time.Now(), cpuSeconds()
		stop = peakHeap(&peakReselect)
		if _, err := Compensate(ctx, m, model.CPU{}, seqs, &rp, CompensateOptions{Grams: gs}, nil); err != nil {
			b.Fatal(err)
		}
		stop()
		reselectSolve = append(reselectSolve, time.Since(t0).Seconds())
		cpuReselectSolve = append(cpuReselectSolve, cpuSeconds()-c0)
		f.Close()
	}
	// The one-pass route's cost of compensation: what scoring with the
	// Gram matrices adds to plain scoring, plus the refits from them.
	fs, fv := median(fusedScore), median(fusedSolve)
	b.ReportMetric(fs, "s/score+grams")
	b.ReportMetric(fv, "s/refit-from-grams")
	b.ReportMetric((fs-median(score)+fv)/median(score), "onepass-compensate/score")
	b.ReportMetric((median(cpuFusedScore)-median(cpuScore)+median(cpuFusedSolve))/median(cpuScore), "cpu-onepass-compensate/cpu-score")
	rv := median(reselectSolve)
	b.ReportMetric(rv, "s/reselect+refit-from-grams")
	b.ReportMetric((fs-median(score)+rv)/median(score), "onepass-reselect/score")
	b.ReportMetric((median(cpuFusedScore)-median(cpuScore)+median(cpuReselectSolve))/median(cpuScore), "cpu-onepass-reselect/cpu-score")
	b.ReportMetric(float64(peakReselect)/(1<<20), "MiB/peak-reselect+refit-from-grams")
	b.ReportMetric(float64(peakFused)/(1<<20), "MiB/peak-score+grams")
	b.ReportMetric(float64(peakSolve)/(1<<20), "MiB/peak-refit-from-grams")
	s, k := median(score), median(comp)
	b.ReportMetric(s, "s/score")
	b.ReportMetric(k, "s/compensate")
	b.ReportMetric(k/s, "compensate/score")
	b.ReportMetric(median(cpuComp)/median(cpuScore), "cpu-compensate/cpu-score")
	b.ReportMetric(median(cpuScore), "cpu-s/score")
	b.ReportMetric(median(cpuComp), "cpu-s/compensate")
	b.ReportMetric(float64(peakScore)/(1<<20), "MiB/peak-score")
	b.ReportMetric(float64(peakComp)/(1<<20), "MiB/peak-compensate")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// peakHeap samples the heap in use until the returned stop is called and
// keeps the largest value seen in *peak.
func peakHeap(peak *uint64) (stop func()) {
	var done atomic.Bool
	fin := make(chan struct{})
	go func() {
		// runtime/metrics reads without stopping the world.
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for !done.Load() {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(fin)
	}()
	return func() { done.Store(true); <-fin }
}
