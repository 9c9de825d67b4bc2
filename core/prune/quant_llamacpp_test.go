package prune

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// quantTestModel is a 4-layer llama whose rows are whole 256-value blocks.
func quantTestModel(t *testing.T) *model.Config {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny", Layers: 4})
	if err != nil {
		t.Fatal(err)
	}
	c.Hidden, c.FFN, c.HeadDim, c.Rope.Dim = 256, 512, 64, 64
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// planFor scores m on random sequences and selects the first ratio from
// ratio upwards (in steps of 0.001) whose FFN width is a multiple of mult.
func planFor(t *testing.T, m *model.Model, ratio float64, mult int) *Plan {
	t.Helper()
	seqs := randomSeqs(rand.New(rand.NewPCG(3, 3)), 6, 48, m.Config.Vocab)
	sc, err := Score(context.Background(), m, model.CPU{}, seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for r := ratio; r < 0.8; r += 0.001 {
		plan, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", r, "uniform", false)
		if err != nil {
			t.Fatal(err)
		}
		if plan.To.FFN%mult == 0 && plan.To.FFN != m.Config.FFN {
			return plan
		}
	}
	t.Fatalf("no ratio from %v gives an FFN width that is a multiple of %d", ratio, mult)
	return nil
}

func openModel(t *testing.T, path string) (*model.Model, source.Folder) {
	t.Helper()
	folder, err := source.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	return m, folder
}

func parseGGUF(t *testing.T, path string) *gguf.File {
	t.Helper()
	src, err := source.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	f, err := gguf.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// exportQuant writes the plan's expert with a quant choice and verifies it.
func exportQuant(t *testing.T, m *model.Model, folder source.Folder, plan *Plan, quant, out string) *Slicer {
	t.Helper()
	sl := &Slicer{M: m, Plan: plan, Source: folder}
	if err := Export(sl, Output{Path: out, Format: "gguf", Name: "test", Quant: quant}); err != nil {
		t.Fatal(err)
	}
	if err := Verify(out, sl); err != nil {
		t.Fatal(err)
	}
	return sl
}

// TestPruneQuantizedSource prunes a Q4_K_M and an IQ4_XS file made by
// llama.cpp's quantizer, keeping their types: tensors that lose whole rows keep the
// source's type and blocks (copied verbatim), tensors that lose columns are
// requantized in their own type or llama.cpp's fallback for the new row
// length. The expert loads in llama.cpp, whose top-1 tokens agree with the
// engine's on the same file (near-ties within llama.cpp's own 8-bit
// activation rounding, measured against an F32 copy, excepted).
func TestPruneQuantizedSource(t *testing.T) {
	// FFN widths that are whole Q4_K/Q6_K blocks (ffn_down requantized in
	// its own type), whole 32-value blocks (llama.cpp's Q5_0/Q8_0
	// fallback) and neither (F16).
	for _, mult := range []int{256, 32, 1} {
		t.Run(fmt.Sprintf("q4_k_m/ffn-multiple-of-%d", mult), func(t *testing.T) { pruneQuantizedSource(t, "q4_k_m", mult) })
	}
	// IQ4_XS, requantized in its own type or IQ4_NL (its fallback).
	for _, mult := range []int{256, 32} {
		t.Run(fmt.Sprintf("iq4_xs/ffn-multiple-of-%d", mult), func(t *testing.T) { pruneQuantizedSource(t, "iq4_xs", mult) })
	}
}

func pruneQuantizedSource(t *testing.T, ftype string, mult int) {
	for _, avail := range []func() error{llamaref.QuantizeAvailable, func() error { return llamaref.Available("") }} {
		if err := avail(); err != nil {
			llamaref.Missing(t, err)
		}
	}
	dir := t.TempDir()
	c := quantTestModel(t)
	f32, src := filepath.Join(dir, "f32.gguf"), filepath.Join(dir, ftype+".gguf")
	if err := synth.WriteGGUF(f32, c, 5, tensor.F32); err != nil {
		t.Fatal(err)
	}
	if log, err := llamaref.Quantize(f32, src, ftype, false); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	m, folder := openModel(t, src)
	plan := planFor(t, m, 0.2, mult)
	out := filepath.Join(dir, "expert.gguf")
	sl := exportQuant(t, m, folder, plan, "keep", out)

	srcF, outF := parseGGUF(t, src), parseGGUF(t, out)
	srcType, _ := srcF.Uint("general.file_type")
	if outType, ok := outF.Uint("general.file_type"); !ok || outType != srcType {
		t.Errorf("the expert's general.file_type is %d (%v), the source's %d", outType, ok, srcType)
	}
	counts := map[string]int{}
	for _, ot := range outF.Tensors {
		st, ok := srcF.Tensor(ot.Name)
		if !ok || len(ot.Shape) < 2 {
			continue
		}
		act := sl.Actions[ot.Name]
		counts[strings.Fields(act)[0]]++
		rowsCut := ot.Cols() == st.Cols()
		want := st.Type
		if !rowsCut {
			want = gguf.FallbackType(st.Type, int64(ot.Cols()))
		}
		if ot.Type != want {
			t.Errorf("%s: written as %s, want %s (source %s, %d of %d columns)", ot.Name, ot.Type, want, st.Type, ot.Cols(), st.Cols())
		}
		if rowsCut && !strings.HasPrefix(act, ActionCopied) {
			t.Errorf("%s lost only rows but was %q", ot.Name, act)
		}
		if !rowsCut && !strings.HasPrefix(act, ActionRequantized) && !(want == gguf.TypeF16 && strings.HasPrefix(act, ActionDequantized)) {
			t.Errorf("%s lost columns but was %q", ot.Name, act)
		}
		if rowsCut { // every written row is one of the source's, byte for byte
			srcRows := map[string]bool{}
			for r := 0; r < st.Rows(); r++ {
				b, _ := st.ReadRaw(r, 1)
				srcRows[string(b)] = true
			}
			for r := 0; r < ot.Rows(); r++ {
				if b, _ := ot.ReadRaw(r, 1); !srcRows[string(b)] {
					t.Errorf("%s row %d is not a row of the source's blocks", ot.Name, r)
					break
				}
			}
		}
	}
	t.Logf("expert tensors: %v; FFN %d of %d", counts, plan.To.FFN, c.FFN)

	ids := []int{1, 17, 200, 45, 45, 3, 380, 99, 7, 150, 22, 301, 260, 261, 5, 9}
	em, _ := openModel(t, out)
	got, err := em.AllLogits(model.CPU{}, ids)
	if err != nil {
		t.Fatal(err)
	}
	lq, err := llamaref.Eval(out, ids, llamaref.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f32copy := filepath.Join(dir, "expert-f32.gguf")
	writeDequantized(t, outF, f32copy)
	lf, err := llamaref.Eval(f32copy, ids, llamaref.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const floor = -20
	af := lf.Compare(got, em.Config.Vocab, floor)
	noise := 0.0
	for p := range ids {
		for v := range lq.Values[p] {
			if a, b := float64(lq.Values[p][v]), float64(lf.Values[p][v]); a > floor && b > floor {
				noise = math.Max(noise, math.Abs(a-b))
			}
		}
	}
	a := lq.Compare(got, em.Config.Vocab, floor)
	t.Logf("llama.cpp on the expert: top-1 %d/%d, max |Δ log p| %.3g (logit scale %.3g); on its F32 copy %.3g; llama.cpp's activation rounding %.3g",
		a.Top1, len(ids), a.MaxDiff, a.Scale, af.MaxDiff, noise)
	if af.Top1 != len(ids) || af.MaxDiff > 1e-4*af.Scale {
		t.Errorf("llama.cpp on the F32 copy of the expert: top-1 %d/%d, max |Δ log p| %.3g", af.Top1, len(ids), af.MaxDiff)
	}
	for p := range ids {
		lp := llamaref.LogSoftmax(got[p*em.Config.Vocab : (p+1)*em.Config.Vocab])
		best := 0
		for v := range lp {
			if lp[v] > lp[best] {
				best = v
			}
		}
		if o := lq.Top1[p]; o != best && lp[best]-lp[o] > noise {
			t.Errorf("position %d: top-1 %d, llama.cpp's %d, %.3g apart in log p (more than %.3g)", p, best, o, lp[best]-lp[o], noise)
		}
	}
}

// writeDequantized writes f with every tensor widened to F32.
func writeDequantized(t *testing.T, f *gguf.File, out string) {
	t.Helper()
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range f.KVs {
		w.SetKV(kv)
	}
	for _, tt := range f.Tensors {
		w.AddTensorType(tt.Name, tt.Shape, gguf.TypeF32)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range f.Tensors {
		v := make([]float32, tt.Elems())
		if err := tt.ReadF32(v, 0, tt.Rows()); err != nil {
			t.Fatal(err)
		}
		raw, _ := tensor.Encode(nil, v, tensor.F32)
		if err := w.WriteTensor(tt.Name, raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQuantOutputMatchesLlamaCpp prunes a bf16 model and writes the expert
// with --quant q4_k_m (and the other file types), and writes the same expert
// in F32 for llama.cpp's quantizer: the tensor types must be the same, every
// block's bytes equal, and general.file_type and quantization_version too.
func TestQuantOutputMatchesLlamaCpp(t *testing.T) {
	if err := llamaref.QuantizeAvailable(); err != nil {
		llamaref.Missing(t, err)
	}
	dir := t.TempDir()
	c := quantTestModel(t)
	src := filepath.Join(dir, "bf16.gguf")
	if err := synth.WriteGGUF(src, c, 5, tensor.BF16); err != nil {
		t.Fatal(err)
	}
	m, folder := openModel(t, src)
	plan := planFor(t, m, 0.3, 1)
	f32 := filepath.Join(dir, "expert-f32.gguf")
	exportQuant(t, m, folder, plan, "f32", f32)
	for _, ft := range []string{"q4_k_m", "q5_k_m", "q6_k", "q8_0", "q4_0", "iq4_xs", "iq4_nl"} {
		t.Run(ft, func(t *testing.T) {
			ref, mine := filepath.Join(dir, ft+"-llama.gguf"), filepath.Join(dir, ft+"-cusprun.gguf")
			if log, err := llamaref.Quantize(f32, ref, ft, false); err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			exportQuant(t, m, folder, plan, ft, mine)
			rf, mf := parseGGUF(t, ref), parseGGUF(t, mine)
			for _, k := range []string{"general.file_type", "general.quantization_version"} {
				a, okA := rf.Uint(k)
				b, okB := mf.Uint(k)
				if a != b || okA != okB {
					t.Errorf("%s: cusprun wrote %d (%v), llama.cpp %d (%v)", k, b, okB, a, okA)
				}
			}
			same, total := map[string]int{}, map[string]int{}
			for _, rt := range rf.Tensors {
				mt, ok := mf.Tensor(rt.Name)
				if !ok {
					t.Errorf("%s missing from cusprun's expert", rt.Name)
					continue
				}
				if mt.Type != rt.Type {
					t.Errorf("%s: cusprun wrote %s, llama.cpp %s", rt.Name, mt.Type, rt.Type)
					continue
				}
				a, _ := rt.ReadRaw(0, rt.Rows())
				b, _ := mt.ReadRaw(0, mt.Rows())
				_, bs, _ := rt.Type.Block()
				for o := 0; o+int(bs) <= len(a); o += int(bs) {
					total[rt.Type.String()]++
					if bytes.Equal(a[o:o+int(bs)], b[o:o+int(bs)]) {
						same[rt.Type.String()]++
					}
				}
			}
			var names []string
			for n := range total {
				names = append(names, n)
			}
			sort.Strings(names)
			var line string
			for _, n := range names {
				line += fmt.Sprintf(" %s %d/%d (%.4f)", n, same[n], total[n], float64(same[n])/float64(total[n]))
				if same[n] != total[n] {
					t.Errorf("%s: %d of %d blocks differ from llama.cpp's", n, total[n]-same[n], total[n])
				}
			}
			t.Logf("--quant %s, FFN %d: identical blocks per type:%s", ft, plan.To.FFN, line)
		})
	}
}
