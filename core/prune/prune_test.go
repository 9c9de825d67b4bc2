package prune

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// maskBackend runs the dense model with the pruned units silenced: the
// down_proj columns of removed neurons and the o_proj columns of removed
// groups set to zero. A correct export computes exactly this function.
type maskBackend struct {
	model.CPU
	plan *Plan
}

func (b maskBackend) Layer(s model.State, L *model.Layer, st *model.Stats) error {
	c := b.plan.From
	zeroCols := func(w *model.Weight, keep []int) *model.Weight {
		f := append([]float32(nil), w.F32()...)
		kept := make([]bool, w.Cols)
		for _, j := range keep {
			kept[j] = true
		}
		for r := 0; r < w.Rows; r++ {
			for j := 0; j < w.Cols; j++ {
				if !kept[j] {
					f[r*w.Cols+j] = 0
				}
			}
		}
		raw, _ := tensor.Encode(nil, f, tensor.F32)
		return &model.Weight{Name: w.Name, DType: tensor.F32, Rows: w.Rows, Cols: w.Cols, Raw: raw}
	}
	M := *L
	qh, _ := heads(b.plan.KeepGroups[L.Index], c.Group())
	M.O = zeroCols(L.O, dims(qh, c.HeadDim))
	M.Down = zeroCols(L.Down, b.plan.KeepFFN[L.Index])
	return b.CPU.Layer(s, &M, st)
}

func randomSeqs(r *rand.Rand, n, length, vocab int) [][]int {
	out := make([][]int, n)
	for i := range out {
		out[i] = make([]int, length)
		for j := range out[i] {
			out[i][j] = r.IntN(vocab)
		}
	}
	return out
}

// randomUnitScores scores every unit of c uniformly at random, ties all
// zero; the importances (which uniform placement weighs the split by) are
// the scores themselves.
func randomUnitScores(r *rand.Rand, c *model.Config) UnitScores {
	sc := UnitScores{}
	for l := 0; l < c.Layers; l++ {
		f, a := make([]float64, c.FFN), make([]float64, c.KVHeads)
		for i := range f {
			f[i] = r.Float64()
		}
		for i := range a {
			a[i] = r.Float64()
		}
		sc.FFN, sc.FFNTie, sc.FFNImp = append(sc.FFN, f), append(sc.FFNTie, make([]float64, c.FFN)), append(sc.FFNImp, f)
		sc.Attn, sc.AttnTie, sc.AttnImp = append(sc.Attn, a), append(sc.AttnTie, make([]float64, c.KVHeads)), append(sc.AttnImp, a)
	}
	return sc
}

func synthModel(t *testing.T, o synth.Options, format string) (*model.Model, source.Folder, string) {
	t.Helper()
	c, err := synth.Config(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m")
	if format == "gguf" {
		path += ".gguf"
		err = synth.WriteGGUF(path, c, 5, tensor.BF16)
	} else {
		err = synth.WriteHF(path, c, 5, tensor.BF16, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := source.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	return m, f, path
}

// TestExportComputesMaskedModel prunes every family with every method and
// checks that the exported expert's logits equal the dense model's with the
// pruned units silenced, for HF and GGUF outputs.
func TestExportComputesMaskedModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, fam := range synth.Families {
		for _, srcFmt := range []string{"hf", "gguf"} {
			t.Run(fam+"-"+srcFmt, func(t *testing.T) {
				m, folder, _ := synthModel(t, synth.Options{Family: fam, Shape: "tiny", Layers: 3}, srcFmt)
				seqs := randomSeqs(r, 6, 24, m.Config.Vocab)
				sc, err := Score(context.Background(), m, model.CPU{}, seqs, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, method := range Methods {
					for _, format := range []string{"hf", "gguf"} {
						// llama.cpp's phi2 keeps every head: FFN-only plans for phi GGUF.
						ffnOnly := format == "gguf" && fam == "phi"
						plan, err := Select(m.Config, sc.Scores(method, 3), method, 0.3, "uniform", ffnOnly)
						if err != nil {
							t.Fatal(err)
						}
						ids := seqs[0][:16]
						want, err := m.AllLogits(maskBackend{plan: plan}, ids)
						if err != nil {
							t.Fatal(err)
						}
						out := filepath.Join(t.TempDir(), "expert")
						if format == "gguf" {
							out += ".gguf"
						}
						sl := &Slicer{M: m, Plan: plan, Source: folder}
						o := Output{Path: out, Format: format, Name: "test", Files: SmallFiles(folder)}
						if format == "gguf" && m.GGUF() == nil {
							v, _ := synth.NewVocab(m.Config.Vocab)
							o.VocabMeta = v.GGUF
						}
						if err := Export(sl, o); err != nil {
							t.Fatal(err)
						}
						if err := Verify(out, sl); err != nil {
							t.Fatal(err)
						}
						pm, err := model.OpenPath(out)
						if err != nil {
							t.Fatal(err)
						}
						got, err := pm.AllLogits(model.CPU{}, ids)
						if err != nil {
							t.Fatal(err)
						}
						worst := 0.0
						for i := range got {
							worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
						}
						if worst > 1e-3 {
							t.Errorf("%s %s: exported logits differ from the masked dense model by %.3g", method, format, worst)
						}
					}
				}
			})
		}
	}
}

// TestSelectBudget checks the parameter accounting and the floors.
func TestSelectBudget(t *testing.T) {
	m, _, _ := synthModel(t, synth.Options{Family: "llama", Shape: "small"}, "hf")
	r := rand.New(rand.NewPCG(3, 4))
	sc, err := Score(context.Background(), m, model.CPU{}, randomSeqs(r, 4, 16, m.Config.Vocab), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := Count(m.Config).Decoder
	pn, _ := unitParams(m.Config, 0)
	for _, placement := range []string{"uniform", "adaptive"} {
		for _, ratio := range []float64{0, 0.1, 0.25, 0.5, 0.8} {
			plan, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", ratio, placement, false)
			if err != nil {
				t.Fatalf("%s %g: %v", placement, ratio, err)
			}
			after := Count(plan.To).Decoder
			removed := before - after
			target := int64(math.Round(ratio * float64(before)))
			slack := int64(m.Config.Layers) * pn
			if removed > target+slack || removed < target-slack {
				t.Errorf("%s %g: removed %d parameters, target %d (slack %d)", placement, ratio, removed, target, slack)
			}
			for l := 0; l < plan.To.Layers; l++ {
				if plan.To.FFNAt(l) < 1 || plan.To.KVHeadsAt(l) < 1 {
					t.Errorf("%s %g: layer %d left with %d neurons and %d groups", placement, ratio, l, plan.To.FFNAt(l), plan.To.KVHeadsAt(l))
				}
			}
		}
	}
	if _, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", 0.999, "uniform", false); err == nil {
		t.Error("ratio 0.999 accepted though the floors forbid it")
	}
	if _, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", 1, "uniform", false); err == nil {
		t.Error("ratio 1 accepted")
	}
	if _, err := Select(m.Config, sc.Scores("magnitude", 1), "magnitude", 0.2, "adaptive", false); err == nil {
		t.Error("adaptive placement accepted magnitude scores, which are not comparable across layers")
	}
}

// TestPercentile checks ranks by hand.
func TestPercentile(t *testing.T) {
	out := make([]float64, 5)
	percentile([]float64{3, 1, 2, 2, 9}, out)
	want := []float64{0.6, 0, 0.2, 0.2, 0.8}
	for i := range want {
		if math.Abs(out[i]-want[i]) > 1e-12 {
			t.Fatalf("percentile = %v, want %v", out, want)
		}
	}
}

// TestCusPrunScoresByHand builds a layer whose statistics are known and
// checks the deactivation importance and the max-of-ranks score.
func TestCusPrunScoresByHand(t *testing.T) {
	c := &model.Config{Family: "llama", Hidden: 2, Layers: 1, Heads: 2, KVHeads: 2, HeadDim: 1, FFN: 3, Vocab: 4, Gated: true,
		Rope: model.Rope{Theta: 10000, Dim: 1 + 1, Type: "default"}}
	f32 := func(rows, cols int, v ...float32) *model.Weight {
		raw, _ := tensor.Encode(nil, v, tensor.F32)
		return &model.Weight{DType: tensor.F32, Rows: rows, Cols: cols, Raw: raw}
	}
	L := &model.Layer{Index: 0, Heads: 2, KVHeads: 2, FFN: 3,
		Q: f32(2, 2, 1, 0, 0, 1), K: f32(2, 2, 1, 0, 0, 1), V: f32(2, 2, 1, 0, 0, 1), O: f32(2, 2, 1, 0, 0, 1),
		Gate: f32(3, 2, 1, 1, 1, 1, 1, 1), Up: f32(3, 2, 1, 1, 1, 1, 1, 1),
		Down: f32(2, 3, 3, 0, 1, 4, 0, 1)} // column norms 5, 0, sqrt(2)
	st := &model.Stats{
		FFNDoc:  [][]float32{{1, 100, 4}, {4, 1, 1}}, // ||a_k||^2 per doc
		AttnDoc: [][]float32{{1, 4}, {9, 1}},
		FFNSum:  make([]float64, 3), FFNSq: make([]float64, 3), OSum: make([]float64, 2), OSq: make([]float64, 2), Tokens: 4,
	}
	s := NewScorer(c)
	s.add(L, st)
	// doc 0: Imp = 1*5, 10*0, 2*sqrt2 = 5, 0, 2.83 -> ranks 2/3, 0, 1/3
	// doc 1: Imp = 2*5, 1*0, 1*sqrt2  = 10, 0, 1.41 -> ranks 2/3, 0, 1/3
	sc := s.Scores("cusprun", 0)
	want := []float64{2.0 / 3, 0, 1.0 / 3}
	for k := range want {
		if math.Abs(sc.FFN[0][k]-want[k]) > 1e-12 {
			t.Fatalf("FFN scores %v, want %v", sc.FFN[0], want)
		}
	}
	// groups: doc 0 Imp 1, 2 -> ranks 0, 1/2; doc 1 Imp 3, 1 -> 1/2, 0; max = 1/2, 1/2; tie by summed Imp 4 vs 3.
	if sc.Attn[0][0] != 0.5 || sc.Attn[0][1] != 0.5 || sc.AttnTie[0][0] != 4 || sc.AttnTie[0][1] != 3 {
		t.Fatalf("attention scores %v tie %v", sc.Attn[0], sc.AttnTie[0])
	}
	keep := keepHighest(sc.Attn[0], sc.AttnTie[0], 1, 0, true)
	if len(keep) != 1 || keep[0] != 0 {
		t.Fatalf("kept group %v, want [0] (higher summed importance)", keep)
	}
}

// TestExportDeterministic writes the same plan twice: identical bytes.
func TestExportDeterministic(t *testing.T) {
	m, folder, _ := synthModel(t, synth.Options{Family: "qwen2", Shape: "tiny"}, "hf")
	r := rand.New(rand.NewPCG(5, 6))
	sc, err := Score(context.Background(), m, model.CPU{}, randomSeqs(r, 3, 20, m.Config.Vocab), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", 0.2, "uniform", false)
	if err != nil {
		t.Fatal(err)
	}
	var outs [2][]byte
	for i := range outs {
		out := filepath.Join(t.TempDir(), "e.zip")
		if err := Export(&Slicer{M: m, Plan: plan, Source: folder}, Output{Path: out, Format: "zip", Files: SmallFiles(folder)}); err != nil {
			t.Fatal(err)
		}
		if outs[i], err = os.ReadFile(out); err != nil {
			t.Fatalf("reading export %d: %v", i, err)
		}
		if len(outs[i]) == 0 {
			t.Fatalf("export %d is empty", i)
		}
	}
	if string(outs[0]) != string(outs[1]) {
		t.Fatal("two exports of the same plan differ")
	}
}
