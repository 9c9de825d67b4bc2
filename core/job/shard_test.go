package job

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/core/tokenizer"
)

func openSynth(t *testing.T) (source.Folder, *model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: "qwen2", Shape: "tiny", Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 4, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	folder, err := source.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, tok, err := Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	return folder, m, tok
}

// TestShardedJobWritesTheSameExpert: three engines scoring a part each,
// merged through Options.Scores, give the expert byte for byte that one
// engine scoring everything gives; parts that do not cover the job's
// calibration text are refused.
func TestShardedJobWritesTheSameExpert(t *testing.T) {
	folder, m, tok := openSynth(t)
	ctx := context.Background()
	o := Options{Language: "de", Domain: "law", Ratio: 0.3, Format: "zip", MaxTokens: 48, MaxDocs: 9}
	write := func(o Options) []byte {
		t.Helper()
		j, err := Plan(ctx, folder, m, tok, model.CPU{}, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := j.Write(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	want := write(o)
	const n = 3
	var parts []*prune.Scorer
	for i := 0; i < n; i++ {
		p, gs, err := ScoreShard(ctx, m, tok, model.CPU{}, o, i, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if gs != nil {
			t.Fatalf("part %d kept Gram matrices for a job without the refit", i)
		}
		if p.Docs() == 0 {
			t.Fatalf("part %d of %d scored no documents: the test needs every part busy", i, n)
		}
		parts = append(parts, p)
	}
	so := o
	so.Scores = parts
	if got := write(so); !bytes.Equal(got, want) {
		t.Fatal("the expert from merged parts differs from the one-engine expert")
	}

	so.Scores = parts[:2]
	if _, err := Plan(ctx, folder, m, tok, model.CPU{}, so, nil); err == nil || !strings.Contains(err.Error(), "parts of the scores") {
		t.Fatalf("two of three parts: error %v, want one about the parts", err)
	}
	other := o
	other.MaxDocs = 4 // another calibration set
	p, _, err := ScoreShard(ctx, m, tok, model.CPU{}, other, 0, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	so.Scores = []*prune.Scorer{p}
	if _, err := Plan(ctx, folder, m, tok, model.CPU{}, so, nil); err == nil {
		t.Fatal("scores of another calibration set were taken")
	}
	if _, _, err := ScoreShard(ctx, m, tok, model.CPU{}, o, 3, 3, nil); err == nil {
		t.Fatal("part 3 of 3 was scored")
	}
}

// TestShardedRefitSolvesFromTheParts: with the refit on, each part keeps
// its Gram matrices; saved, added up and given to the job with the parts'
// scores they make the refit only solve (no pass of its own), and the
// expert is the one-engine expert: the same kept units, and every refitted
// weight the same up to the order of the float64 additions (within one
// step of the stored bf16; on these documents all bit for bit).
func TestShardedRefitSolvesFromTheParts(t *testing.T) {
	folder, m, tok := openSynth(t)
	ctx := context.Background()
	o := Options{Language: "de", Domain: "law", Ratio: 0.3, Format: "zip", MaxTokens: 48, MaxDocs: 9, Compensate: true}
	one, err := Plan(ctx, folder, m, tok, model.CPU{}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Compensate(ctx, model.CPU{}, one.scored.seqs, nil); err != nil {
		t.Fatal(err)
	}

	const n = 3
	var parts []*prune.Scorer
	sum := prune.NewGrams(m.Config)
	for i := 0; i < n; i++ {
		p, gs, err := ScoreShard(ctx, m, tok, model.CPU{}, o, i, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if gs == nil {
			t.Fatalf("part %d of a refitting job kept no Gram matrices", i)
		}
		var b bytes.Buffer
		if err := gs.Save(&b); err != nil {
			t.Fatal(err)
		}
		if err := sum.Add(&b); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	so := o
	so.Scores, so.Grams = parts, sum
	split, err := Plan(ctx, folder, m, tok, model.CPU{}, so, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := split.Compensate(ctx, model.CPU{}, split.scored.seqs, nil); err != nil {
		t.Fatal(err)
	}
	if split.Slicer.Refit.PassSeconds != 0 || split.Result.Refit != "from scoring" {
		t.Fatalf("the split job's refit took a pass of its own (%.3f s, %q) though the parts kept the matrices", split.Slicer.Refit.PassSeconds, split.Result.Refit)
	}
	if one.Result.Refit != "from scoring" {
		t.Fatalf("the one-engine job's refit: %q, want it from the scoring pass's matrices (a temporary file)", one.Result.Refit)
	}
	for l := range one.Plan.KeepFFN {
		if !slices.Equal(one.Plan.KeepFFN[l], split.Plan.KeepFFN[l]) || !slices.Equal(one.Plan.KeepGroups[l], split.Plan.KeepGroups[l]) {
			t.Fatalf("layer %d: the split job keeps other units", l)
		}
	}
	open := func(j *Job) *model.Model {
		t.Helper()
		var buf bytes.Buffer
		if err := j.Write(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		zf, err := source.OpenZip(&source.Bytes{B: buf.Bytes(), Path: "e.zip"})
		if err != nil {
			t.Fatal(err)
		}
		em, _, err := Open(zf)
		if err != nil {
			t.Fatal(err)
		}
		return em
	}
	a, b := open(one), open(split)
	same, total := 0, 0
	for l := 0; l < m.Config.Layers; l++ {
		la, err := a.LoadLayer(l)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := b.LoadLayer(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range [][2]*model.Weight{{la.O, lb.O}, {la.Down, lb.Down}} {
			x, y := w[0].F32(), w[1].F32()
			if len(x) != len(y) {
				t.Fatalf("layer %d %s: %d weights against %d", l, w[0].Name, len(x), len(y))
			}
			for i := range x {
				if x[i] == y[i] {
					same++
				} else if d := math.Abs(float64(x[i] - y[i])); d > math.Abs(float64(x[i]))/128+1e-30 {
					t.Fatalf("layer %d %s[%d]: %g split, %g from one engine: more than a bf16 step apart", l, w[0].Name, i, y[i], x[i])
				}
				total++
			}
		}
	}
	// The parts' float32 blocks are the one engine's (each document's own,
	// gram.add), so only the float64 additions of the parts' sums come in
	// another order; on these documents (48 tokens each, three documents to
	// a 256-token block before the blocks followed the documents, when 5
	// weights differed) no stored weight differs.
	t.Logf("refitted weights bit for bit the same: %d of %d", same, total)
	if same != total {
		t.Fatalf("only %d of %d refitted weights are the same bit for bit", same, total)
	}

	so.Grams = prune.NewGrams(m.Config) // matrices of no tokens
	if _, err := Plan(ctx, folder, m, tok, model.CPU{}, so, nil); err == nil || !strings.Contains(err.Error(), "Gram matrices") {
		t.Fatalf("matrices of other tokens: error %v, want one naming the Gram matrices", err)
	}
}

// TestRefitApartJoinsTheParts: a job that leaves its refit apart
// (Options.RefitApart), refitted by three engines a part of the layers
// each (RefitPart, on the plan rebuilt from its kept units) and joined
// (UseRefit), writes the expert of the job that refits itself, byte for
// byte; an incomplete refit, one for another plan, and a job not waiting
// for parts are refused.
func TestRefitApartJoinsTheParts(t *testing.T) {
	folder, m, tok := openSynth(t)
	ctx := context.Background()
	o := Options{Language: "de", Ratio: 0.3, Format: "zip", MaxTokens: 48, MaxDocs: 9, Compensate: true}
	write := func(j *Job) []byte {
		t.Helper()
		var buf bytes.Buffer
		if err := j.Write(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	one, err := Plan(ctx, folder, m, tok, model.CPU{}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := write(one)
	oa := o
	oa.RefitApart = true
	j, err := Plan(ctx, folder, m, tok, model.CPU{}, oa, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.Result.Refit != "apart" || j.Slicer.Refit != nil {
		t.Fatalf("a job with its refit apart refitted (%q)", j.Result.Refit)
	}
	const n = 3
	joined := prune.NewCompensation(j.Plan)
	for i := 0; i < n; i++ {
		p, err := prune.PlanFor(m.Config, j.Plan.KeepFFN, j.Plan.KeepGroups, j.Plan.PoolFFN)
		if err != nil {
			t.Fatal(err)
		}
		part, err := RefitPart(ctx, m, tok, model.CPU{}, oa, p, i, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := part.Save(&b); err != nil {
			t.Fatal(err)
		}
		if err := joined.Add(&b); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := j.UseRefit(joined, n, 1); err == nil {
				t.Fatal("one part of three was taken as the whole refit")
			}
		}
	}
	if err := j.UseRefit(prune.NewCompensation(one.Plan), n, 1); err == nil || !strings.Contains(err.Error(), "another plan") {
		t.Fatalf("a refit of another plan: error %v", err)
	}
	if err := j.UseRefit(joined, n, 1); err != nil {
		t.Fatal(err)
	}
	if got := write(j); !bytes.Equal(got, want) {
		t.Fatal("the expert refitted in parts differs from the job that refits itself")
	}
	if err := one.UseRefit(joined, n, 1); err == nil {
		t.Fatal("a job that refitted itself took parts")
	}
	if _, err := RefitPart(ctx, m, tok, model.CPU{}, oa, j.Plan, n, n, nil); err == nil {
		t.Fatal("part 3 of 3 was refitted")
	}
}

// TestShardedEvaluationMatches: the parts of an evaluation, merged, give
// the perplexities one engine measures.
func TestShardedEvaluationMatches(t *testing.T) {
	folder, m, tok := openSynth(t)
	ctx := context.Background()
	o := Options{Language: "de", Ratio: 0.3, Format: "zip", MaxTokens: 40}
	j, err := Plan(ctx, folder, m, tok, model.CPU{}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := j.Write(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	zf, err := source.OpenZip(&source.Bytes{B: buf.Bytes(), Path: "e.zip"})
	if err != nil {
		t.Fatal(err)
	}
	em, etok, err := Open(zf)
	if err != nil {
		t.Fatal(err)
	}
	slices, err := HeldOut(j.Options.Target(), 7)
	if err != nil {
		t.Fatal(err)
	}
	dense, expert := Side{Model: m, Tok: tok}, Side{Model: em, Tok: etok}
	want, err := EvaluateBeforeAfter(ctx, model.CPU{}, dense, expert, slices, 40, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 5, 40} { // 40: most parts are empty
		var parts []Measured
		for i := 0; i < n; i++ {
			p, err := EvaluateShard(ctx, model.CPU{}, dense, expert, slices, 40, i, n, nil)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		got, err := MergeEvaluations(parts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d parts: %d slices, want %d", n, len(got), len(want))
		}
		for name, w := range want {
			g := got[name]
			if g.Docs != w.Docs || g.Tokens != w.Tokens {
				t.Fatalf("%d parts, %s: %d docs %d tokens, want %d and %d", n, name, g.Docs, g.Tokens, w.Docs, w.Tokens)
			}
			for _, p := range [][2]float64{{g.PPLBefore, w.PPLBefore}, {g.PPLAfter, w.PPLAfter}} {
				if math.Abs(p[0]-p[1]) > 1e-9*p[1] {
					t.Fatalf("%d parts, %s: perplexity %.12g, want %.12g", n, name, p[0], p[1])
				}
			}
		}
	}
}

// TestSlicesInOnePassMeasureAlike: the slices measured together in one
// pass give each slice's perplexity as measuring it alone does, exactly.
func TestSlicesInOnePassMeasureAlike(t *testing.T) {
	_, m, tok := openSynth(t)
	slices, err := HeldOut(corpus.Target{Language: "de"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvaluateSlices(context.Background(), model.CPU{}, Side{Model: m, Tok: tok}, slices, 40, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slices {
		alone, err := prune.Evaluate(context.Background(), m, model.CPU{}, prune.Tokenize(tok, sl.Docs, 40), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[sl.Name] != alone {
			t.Fatalf("%s slice: %+v in one pass, %+v alone", sl.Name, got[sl.Name], alone)
		}
	}
}
