package prune

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestShardCoversEveryDocumentOnce: the parts, in order, are the sequences
// in order, and no part holds much more than its share of tokens.
func TestShardCoversEveryDocumentOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		seqs := make([][]int, r.IntN(12))
		total, longest := 0, 0
		for i := range seqs {
			seqs[i] = make([]int, 2+r.IntN(40))
			seqs[i][0] = i // tells the documents apart
			total += len(seqs[i])
			longest = max(longest, len(seqs[i]))
		}
		for n := 1; n <= 7; n++ {
			var joined [][]int
			for i := 0; i < n; i++ {
				part := Shard(seqs, i, n)
				tok := 0
				for _, q := range part {
					tok += len(q)
				}
				if limit := total/n + longest + 1; tok > limit {
					t.Fatalf("trial %d: part %d of %d holds %d tokens, more than %d", trial, i, n, tok, limit)
				}
				joined = append(joined, part...)
			}
			if len(joined) != len(seqs) {
				t.Fatalf("trial %d, %d parts: %d documents in all, want %d", trial, n, len(joined), len(seqs))
			}
			for i := range seqs {
				if joined[i][0] != i {
					t.Fatalf("trial %d, %d parts: document %d is out of place", trial, n, i)
				}
			}
		}
	}
}

// TestMergedShardsScoreLikeOneEngine scores the same documents once whole
// and once in parts (each part saved and loaded, as the page's workers
// hand them over, including empty parts) and checks that the merged scores
// are the whole run's and that every method selects the same units.
func TestMergedShardsScoreLikeOneEngine(t *testing.T) {
	m, _, _ := synthModel(t, synth.Options{Family: "llama", Shape: "tiny", Layers: 2}, "hf")
	r := rand.New(rand.NewPCG(3, 4))
	var seqs [][]int
	for i := 0; i < 7; i++ {
		seqs = append(seqs, randomSeqs(r, 1, 5+r.IntN(30), m.Config.Vocab)...)
	}
	ctx := context.Background()
	whole, err := Score(ctx, m, model.CPU{}, seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3, 10} {
		merged := NewScorer(m.Config)
		for i := 0; i < n; i++ {
			part, err := Score(ctx, m, model.CPU{}, Shard(seqs, i, n), nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := part.Save(&buf); err != nil {
				t.Fatalf("%d parts: saving part %d: %v", n, i, err)
			}
			back, err := LoadScorer(&buf, m.Config)
			if err != nil {
				t.Fatalf("%d parts: loading part %d: %v", n, i, err)
			}
			if err := merged.Merge(back); err != nil {
				t.Fatal(err)
			}
		}
		if merged.Docs() != whole.Docs() || merged.Tokens() != whole.Tokens() {
			t.Fatalf("%d parts: %d docs and %d tokens merged, want %d and %d", n, merged.Docs(), merged.Tokens(), whole.Docs(), whole.Tokens())
		}
		for l := range whole.layers {
			a, b := whole.layers[l], merged.layers[l]
			if !slices.Equal(a.ffnRank, b.ffnRank) || !slices.Equal(a.attnRank, b.attnRank) {
				t.Fatalf("%d parts: layer %d: the maximum ranks differ", n, l)
			}
			for name, p := range map[string][2][]float64{"ffnImp": {a.ffnImp, b.ffnImp}, "attnImp": {a.attnImp, b.attnImp},
				"ffnSq": {a.ffnSq, b.ffnSq}, "oSum": {a.oSum, b.oSum}} {
				for k := range p[0] {
					if d := math.Abs(p[0][k] - p[1][k]); d > 1e-9*math.Max(1, math.Abs(p[0][k])) {
						t.Fatalf("%d parts: layer %d %s[%d] = %g merged, %g whole", n, l, name, k, p[1][k], p[0][k])
					}
				}
			}
		}
		for _, method := range Methods {
			pw, err := Select(m.Config, whole.Scores(method, 1), method, 0.3, "uniform", false)
			if err != nil {
				t.Fatal(err)
			}
			pm, err := Select(m.Config, merged.Scores(method, 1), method, 0.3, "uniform", false)
			if err != nil {
				t.Fatal(err)
			}
			for l := range pw.KeepFFN {
				if !slices.Equal(pw.KeepFFN[l], pm.KeepFFN[l]) || !slices.Equal(pw.KeepGroups[l], pm.KeepGroups[l]) {
					t.Fatalf("%d parts, %s: layer %d keeps other units", n, method, l)
				}
			}
		}
	}
}

// TestMergeRefusesAnotherModel: scores of other weights do not merge.
func TestMergeRefusesAnotherModel(t *testing.T) {
	a, _, _ := synthModel(t, synth.Options{Family: "llama", Shape: "tiny", Layers: 2}, "hf")
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny", Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other")
	if err := synth.WriteHF(path, c, 6, tensor.BF16, ""); err != nil { // another seed
		t.Fatal(err)
	}
	f, err := source.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	seqs := randomSeqs(r, 2, 12, a.Config.Vocab)
	sa, err := Score(context.Background(), a, model.CPU{}, seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Score(context.Background(), b, model.CPU{}, seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.Merge(sb); err == nil {
		t.Fatal("scores of two different models merged")
	}
}
