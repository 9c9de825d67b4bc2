package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"slices"
	"strings"
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
	if so.Scores, so.Grams, err = main.LoadScores(n, func(i int) ([]byte, error) { return parts[i], nil }); err != nil {
		t.Fatal(err)
	}
	if so.Grams != nil {
		t.Fatal("the parts of a job without the refit brought Gram matrices")
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
	for _, bad := range [][]byte{[]byte("not scores"), nil, append(binary.LittleEndian.AppendUint64(nil, 3), "abc"...)} {
		if _, _, err := main.LoadScores(1, func(int) ([]byte, error) { return bad, nil }); err == nil {
			t.Fatalf("%q was read as scores", bad)
		}
	}
}

// TestWorkersSplitTheRefit: with the refit on, each worker's part carries
// its Gram matrices, the main one's LoadScores adds them up, and its prune
// refits from them without a pass of its own; the expert is the one
// session's up to the order of float additions (job's
// TestShardedRefitSolvesFromTheParts checks the weights): the same file
// size. A part without matrices (an older page) brings the sum none, so
// the refit takes its own pass.
func TestWorkersSplitTheRefit(t *testing.T) {
	folder, err := source.OpenPath(synthModel(t, "llama"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := Options{Language: "de", Ratio: 0.25, Format: "zip", MaxTokens: 48, MaxDocs: 8, Compensate: true, NoEval: true}
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
	const n = 3
	parts := make([][]byte, n)
	var main *Session
	for i := range parts {
		w, _, err := Open(folder)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			main = w
		}
		if parts[i], err = w.ScoreShard(ctx, o, i, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	so := o
	asked := 0
	if so.Scores, so.Grams, err = main.LoadScores(n, func(i int) ([]byte, error) { asked++; return parts[i], nil }); err != nil {
		t.Fatal(err)
	}
	if so.Grams == nil || asked != n {
		t.Fatalf("the parts of a refitting job brought no Gram matrices (%d parts asked for)", asked)
	}
	res, err := main.Prune(ctx, so, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Seconds["compensate"] <= 0 {
		t.Fatalf("the split job did not refit (%v)", res.Seconds)
	}
	if res.Refit != "from scoring" {
		t.Fatalf("the split job's refit: %q, want it to solve from the scoring pass's matrices", res.Refit)
	}
	var got bytes.Buffer
	if err := main.Export(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.Len() != want.Len() {
		t.Fatalf("the split expert has %d bytes, one session's %d", got.Len(), want.Len())
	}
	diff := 0
	for i := range got.Bytes() {
		if got.Bytes()[i] != want.Bytes()[i] {
			diff++
		}
	}
	t.Logf("bytes that differ from one session's expert: %d of %d", diff, got.Len())

	// An older part without matrices: LoadScores gives none.
	old := slices.Clone(parts)
	k := 8 + int(binary.LittleEndian.Uint64(old[1]))
	old[1] = old[1][:k]
	if _, g, err := main.LoadScores(n, func(i int) ([]byte, error) { return old[i], nil }); err != nil || g != nil {
		t.Fatalf("a part without matrices: %v, %v; want the scores and no matrices", g, err)
	}
}

// TestWorkersRefitALayerEach: the route for models whose matrices do not
// fit in memory: the main session plans with the refit apart, three
// sessions refit every third layer of its plan (as the page passes it
// back), and the joined refit exports one session's expert byte for byte.
func TestWorkersRefitALayerEach(t *testing.T) {
	folder, err := source.OpenPath(synthModel(t, "llama"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := Options{Language: "de", Ratio: 0.25, Format: "zip", MaxTokens: 48, MaxDocs: 8, Compensate: true, NoEval: true}
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
	const n = 3
	sessions := make([]*Session, n)
	for i := range sessions {
		if sessions[i], _, err = Open(folder); err != nil {
			t.Fatal(err)
		}
	}
	main := sessions[0]
	ao := o
	ao.RefitApart = true
	res, err := main.Prune(ctx, ao, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Refit != "apart" {
		t.Fatalf("the prune with the refit apart says %q", res.Refit)
	}
	kept := Kept{FFN: res.Plan.KeepFFN, Groups: res.Plan.KeepGroups, Pool: res.Plan.PoolFFN}
	if kept.Pool == nil {
		t.Fatal("the plan of a refitted prune has no reselection pools")
	}
	// Parts of the plan without its pools (the refit keeps the ranking's
	// choice there) are not the refit the plan asks for.
	plain, err := sessions[1].RefitShard(ctx, o, Kept{FFN: kept.FFN, Groups: kept.Groups}, 0, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := main.UseRefit(1, func(int) ([]byte, error) { return plain, nil }, 1); err == nil || !strings.Contains(err.Error(), "pools") {
		t.Fatalf("a part refitted without the plan's pools was taken (%v)", err)
	}
	parts := make([][]byte, n)
	for i, s := range sessions {
		if parts[i], err = s.RefitShard(ctx, o, kept, i, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := main.UseRefit(2, func(i int) ([]byte, error) { return parts[i+1], nil }, 1); err == nil {
		t.Fatal("the refit without its first part (layer 0) was taken")
	}
	got, err := main.UseRefit(n, func(i int) ([]byte, error) { return parts[i], nil }, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	if got.Refit != "own pass, 3 parts" || got.Seconds["compensate"] != 1.5 {
		t.Fatalf("the joined refit says %q, %v", got.Refit, got.Seconds)
	}
	var out bytes.Buffer
	if err := main.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatal("the expert refitted a layer per worker differs from one session's")
	}
	if _, err := sessions[1].RefitShard(ctx, o, Kept{FFN: kept.FFN[:1], Groups: kept.Groups}, 0, n, nil); err == nil {
		t.Fatal("a plan of the wrong number of layers was refitted")
	}
}
