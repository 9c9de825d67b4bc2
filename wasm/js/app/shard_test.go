package app

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/source"
)

// TestWorkersMakeTheSameExpert plays the page's CPU workers: three
// sessions on the same files each score a part, the first prunes from the
// merged parts and writes the expert, all three measure a part of the
// evaluation; the expert and its perplexities are one session's.
func TestWorkersMakeTheSameExpert(t *testing.T) {
	folder, err := source.OpenPath(synthModel(t, "llama"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := Options{Language: "de", Ratio: 0.25, Format: "zip", MaxTokens: 48, MaxDocs: 8}
	one, _, err := Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := one.Prune(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := one.Export(ctx, &want); err != nil {
		t.Fatal(err)
	}
	expert := &source.Bytes{B: want.Bytes(), Path: "e.zip"}
	if err := one.OpenExpert(expert); err != nil {
		t.Fatal(err)
	}
	wantEval, err := one.Evaluate(ctx, 3, 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	const n = 3
	workers := make([]*Session, n)
	parts := make([][]byte, n)
	for i := range workers {
		if workers[i], _, err = Open(folder); err != nil {
			t.Fatal(err)
		}
		if parts[i], err = workers[i].ScoreShard(ctx, o, i, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	main := workers[0]
	so := o
	if so.Scores, err = main.LoadScores(parts); err != nil {
		t.Fatal(err)
	}
	if _, err := main.Prune(ctx, so, nil); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := main.Export(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("the expert pruned from three workers' scores differs from one session's")
	}
	if err := main.OpenExpert(expert); err != nil {
		t.Fatal(err)
	}
	var measured []job.Measured
	for i, w := range workers {
		if i > 0 {
			if err := w.UseExpert(expert, false); err != nil {
				t.Fatal(err)
			}
		}
		m, err := w.EvaluateShard(ctx, o, 3, 0, i, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		measured = append(measured, m)
	}
	ev, err := main.MergeEvaluation(measured)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range wantEval {
		g := ev[name]
		if g.Docs != w.Docs || g.Tokens != w.Tokens || math.Abs(g.PPLAfter-w.PPLAfter) > 1e-9*w.PPLAfter ||
			math.Abs(g.PPLBefore-w.PPLBefore) > 1e-9*w.PPLBefore {
			t.Fatalf("%s slice: three workers measured %+v, one session %+v", name, g, w)
		}
	}
	if _, err := main.LoadScores([][]byte{[]byte("not scores")}); err == nil {
		t.Fatal("garbage was read as scores")
	}
}
