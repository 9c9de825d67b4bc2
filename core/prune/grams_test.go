package prune

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cusprun/cusprun/core/ops"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// The one-pass route (scores and Gram matrices from one layer-by-layer
// pass, then the solves) must give what scoring and then the separate
// compensation pass give: the same scores to the byte, and the same
// refitted tensors to the byte, for every ratio and a family with the
// bias (phi: the intercept path) and one without; and the Gram matrices
// read back must be the accumulated ones, in the refit's order.
func TestScoreWithGramsIsScoreThenCompensate(t *testing.T) {
	for _, fam := range []string{"llama", "phi", "qwen2"} {
		t.Run(fam, func(t *testing.T) {
			c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			if err := synth.WriteHF(src, c, 7, tensor.BF16, ""); err != nil {
				t.Fatal(err)
			}
			m, err := model.OpenPath(src)
			if err != nil {
				t.Fatal(err)
			}
			// More tokens than one batch holds, so that several batches
			// meet in each layer.
			seqs := randomSeqs(rand.New(rand.NewPCG(9, 9)), 90, 100, c.Vocab)
			if len(Batches(seqs, BatchTokensFor(c))) < 2 {
				t.Fatalf("the test wants several batches")
			}
			ctx := context.Background()
			sc, err := Score(ctx, m, model.CPU{}, seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.CreateTemp(dir, "grams")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var steps []int
			fused, gs, err := ScoreWithGrams(ctx, m, model.CPU{}, seqs, f, func(phase string, done, total int) {
				if phase != "score" || done > total {
					t.Errorf("progress %s %d/%d", phase, done, total)
				}
				steps = append(steps, done)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(Batches(seqs, BatchTokensFor(c))) * c.Layers; len(steps) != n || steps[n-1] != n {
				t.Errorf("progress went %v, want 1..%d", steps, n)
			}
			var a, b bytes.Buffer
			if err := sc.Save(&a); err != nil {
				t.Fatal(err)
			}
			if err := fused.Save(&b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("the layer-by-layer scores differ from Score's")
			}
			rechosen := 0 // layers whose reselection changed the ranking's choice
			for _, pool := range []float64{0, DefaultPool} {
				for _, ratio := range []float64{0.2, 0.5} {
					t.Run(fmt.Sprint(ratio, "/pool", pool), func(t *testing.T) {
						plan, err := Select(c, sc.Scores("cusprun", 1), "cusprun", ratio, "uniform", false)
						if err != nil {
							t.Fatal(err)
						}
						plan.SetPool(sc.Scores("cusprun", 1), pool)
						ranked := slices.Clone(plan.KeepFFN)
						plan2 := *plan
						plan2.KeepFFN = slices.Clone(plan.KeepFFN)
						two, err := Compensate(ctx, m, model.CPU{}, seqs, &plan2, CompensateOptions{}, nil)
						if err != nil {
							t.Fatal(err)
						}
						one, err := Compensate(ctx, m, model.CPU{}, nil, plan, CompensateOptions{Grams: gs}, nil)
						if err != nil {
							t.Fatal(err)
						}
						for l := range plan.KeepFFN {
							if !slices.Equal(plan.KeepFFN[l], plan2.KeepFFN[l]) {
								t.Fatalf("layer %d: the refit from the kept matrices keeps neurons %v, the second pass %v", l, plan.KeepFFN[l], plan2.KeepFFN[l])
							}
							if len(plan.KeepFFN[l]) != len(ranked[l]) {
								t.Fatalf("layer %d: the reselection kept %d neurons, the plan %d", l, len(plan.KeepFFN[l]), len(ranked[l]))
							}
							if !slices.Equal(plan.KeepFFN[l], ranked[l]) {
								if pool == 0 {
									t.Fatalf("layer %d: the refit changed the kept neurons without a pool", l)
								}
								rechosen++
							}
						}
						if len(one.tensors) != len(two.tensors) || len(two.tensors) == 0 {
							t.Fatalf("%d refitted tensors from the kept matrices, %d from the second pass", len(one.tensors), len(two.tensors))
						}
						// The second pass computes each layer as the scoring pass
						// does (o_proj group by group), and both sum every Gram
						// entry over the tokens in the same order: the two routes
						// give the same refit to the bit.
						for k := range two.tensors {
							w2, _, err := two.weight(k.layer, k.role)
							if err != nil {
								t.Fatal(err)
							}
							w1, ok, err := one.weight(k.layer, k.role)
							if err != nil || !ok || w1.Rows != w2.Rows || w1.Cols != w2.Cols {
								t.Fatalf("layer %d %s: no refit of the same shape from the kept matrices (%v)", k.layer, w2.Name, err)
							}
							a, b := w1.F32(), w2.F32()
							worst := 0.0
							for i := range a {
								worst = max(worst, math.Abs(float64(a[i])-float64(b[i])))
							}
							if worst != 0 {
								t.Errorf("layer %d %s: the refit from the kept Gram matrix differs from the second pass's by %g", k.layer, w2.Name, worst)
							}
						}
					})
				}
			}
			if rechosen == 0 {
				t.Errorf("the reselection kept the ranking's choice in every layer: nothing was tested")
			}
			// A matrix read back in a refit's order holds, at (a, b), the
			// Gram entry of the inputs order[a] and order[b], a hand sum.
			in := captureInputs(t, m, seqs)
			L, _ := m.LoadLayer(1)
			keep := []int{5, 0, 3, L.FFN - 1}
			g, err := gs.get(1, 1, keep)
			if err != nil {
				t.Fatal(err)
			}
			for a := range keep {
				for bi := a; bi < L.FFN; bi++ {
					i, j := g.order[a], g.order[bi]
					s := 0.0
					for tk := 0; tk < g.n; tk++ {
						s += in.a[1][tk*L.FFN+i] * in.a[1][tk*L.FFN+j]
					}
					if d := math.Abs(g.g[a*L.FFN+bi] - s); d > 1e-4*(1+math.Abs(s)) {
						t.Fatalf("Gram (%d,%d) read back %g, summed by hand %g", i, j, g.g[a*L.FFN+bi], s)
					}
				}
			}
		})
	}
}

// Kept matrices of another model are refused, not solved.
func TestCompensateRefusesGramsOfAnotherShape(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dir = filepath.Join(dir, "m")
	if err := synth.WriteHF(dir, c, 1, tensor.F32, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(rand.New(rand.NewPCG(2, 2)), 3, 20, c.Vocab)
	f, err := os.CreateTemp(t.TempDir(), "grams")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, gs, err := ScoreWithGrams(context.Background(), m, model.CPU{}, seqs, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Select(c, sc.Scores("cusprun", 1), "cusprun", 0.3, "uniform", false)
	if err != nil {
		t.Fatal(err)
	}
	gs.layers = gs.layers[:c.Layers-1]
	if _, err := Compensate(context.Background(), m, model.CPU{}, seqs, plan, CompensateOptions{Grams: gs}, nil); err == nil {
		t.Fatal("Gram matrices of fewer layers were accepted")
	}
}

// failingSpill refuses every write after the first n bytes.
type failingSpill struct {
	*os.File
	n int64
}

func (f failingSpill) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.n {
		return 0, errors.New("no space left on device")
	}
	return f.File.WriteAt(p, off)
}

// A spill that fails part way (a full disk) costs the matrices, not the
// job: scoring finishes with the same scores and no Grams.
func TestScoreWithGramsOnAFullDisk(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 4, tensor.F32, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(rand.New(rand.NewPCG(3, 3)), 4, 30, c.Vocab)
	f, err := os.CreateTemp(t.TempDir(), "grams")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, gs, err := ScoreWithGrams(context.Background(), m, model.CPU{}, seqs, failingSpill{f, 50000}, nil)
	if err != nil || gs != nil {
		t.Fatalf("a failing spill gave grams %v, error %v; want none and no error", gs != nil, err)
	}
	want, err := Score(context.Background(), m, model.CPU{}, seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	sc.Save(&a)
	want.Save(&b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("scores after a failed spill differ from Score's")
	}
}

// TestGramBlocksFollowDocuments: the Gram matrix of a set of documents is
// the same to the bit however they are batched and however a batch's rows
// are handed to add (whole, or in parts that cut documents and blocks, as
// the GPU backend's parts do): each document's rows are summed in float32
// blocks counted from its first token, as ops.GramUpper of that document
// alone sums them.
func TestGramBlocksFollowDocuments(t *testing.T) {
	const d = 12
	rng := rand.New(rand.NewPCG(3, 4))
	lens := []int{3, 300, 256, 1, 513, 40, 257, 90}
	docs := make([][]float32, len(lens))
	for i, n := range lens {
		docs[i] = make([]float32, n*d)
		for j := range docs[i] {
			docs[i][j] = float32(rng.NormFloat64())
		}
	}
	// The definition: each document alone, in order.
	want := make([]float64, d*d)
	for i, n := range lens {
		ops.GramUpper(want, d, d, docs[i], d, n, nil)
	}
	for _, c := range []struct {
		name    string
		batches [][]int // documents per batch
		part    int     // rows per add call (0: the whole batch)
	}{
		{"one batch", [][]int{{0, 1, 2, 3, 4, 5, 6, 7}}, 0},
		{"one batch in parts of 7", [][]int{{0, 1, 2, 3, 4, 5, 6, 7}}, 7},
		{"one batch in parts of 256", [][]int{{0, 1, 2, 3, 4, 5, 6, 7}}, 256},
		{"three batches", [][]int{{0, 1}, {2, 3, 4}, {5, 6, 7}}, 0},
		{"a batch per document, in parts of 100", [][]int{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}, 100},
	} {
		g := newGram(d, nil)
		for _, b := range c.batches {
			var x []float32
			var spans []ops.Span
			for _, i := range b {
				spans = append(spans, ops.Span{Start: len(x) / d, Len: lens[i]})
				x = append(x, docs[i]...)
			}
			g.batch(spans)
			n := len(x) / d
			step := c.part
			if step == 0 {
				step = n
			}
			for r := 0; r < n; r += step {
				k := min(step, n-r)
				g.add(x[r*d:(r+k)*d], k)
			}
		}
		for i := 0; i < d; i++ {
			for j := i; j < d; j++ {
				if g.g[i*d+j] != want[i*d+j] {
					t.Fatalf("%s: G[%d][%d] = %v, want %v (the documents' own blocks)", c.name, i, j, g.g[i*d+j], want[i*d+j])
				}
			}
		}
		if g.n != 1460 || g.pendN != 0 {
			t.Fatalf("%s: %d rows, %d pending", c.name, g.n, g.pendN)
		}
	}
}
