package job

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
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
		p, err := ScoreShard(ctx, m, tok, model.CPU{}, o, i, n, nil)
		if err != nil {
			t.Fatal(err)
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
	p, err := ScoreShard(ctx, m, tok, model.CPU{}, other, 0, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	so.Scores = []*prune.Scorer{p}
	if _, err := Plan(ctx, folder, m, tok, model.CPU{}, so, nil); err == nil {
		t.Fatal("scores of another calibration set were taken")
	}
	if _, err := ScoreShard(ctx, m, tok, model.CPU{}, o, 3, 3, nil); err == nil {
		t.Fatal("part 3 of 3 was scored")
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
