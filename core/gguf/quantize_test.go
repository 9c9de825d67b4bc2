package gguf_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/tools/llamaref"
)

func open(t *testing.T, path string) *gguf.File {
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

// quantConfigs are the synthetic models quantized: tiny (rows of 64 and 160,
// so every K-quant falls back to a 32-value type), and an 8-layer model with
// rows of 256 (K-quants kept, use_more_bits picking layers 0, 3, 6, 7) whose
// ffn_down rows of 320 still fall back, and four query heads per KV head.
func quantConfigs(t *testing.T) map[string]*model.Config {
	tiny, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	k8, err := synth.Config(synth.Options{Family: "qwen2", Shape: "tiny", Layers: 8})
	if err != nil {
		t.Fatal(err)
	}
	k8.Hidden, k8.FFN, k8.HeadDim, k8.Rope.Dim = 256, 320, 64, 64
	k8.KVHeads = 1 // four query heads a KV head: the IQ4 mixes' attn_v rule
	k8.Tied = true
	if err := k8.Validate(); err != nil {
		t.Fatal(err)
	}
	return map[string]*model.Config{"tiny-llama": tiny, "k8-qwen2-tied": k8}
}

// TestQuantizeMatchesLlamaCpp quantizes a synthetic F32 GGUF with llama.cpp's
// quantizer (llama_model_quantize, no importance matrix) and with
// QuantizeFile, for each file type, and compares every tensor's type and
// every block's bytes.
func TestQuantizeMatchesLlamaCpp(t *testing.T) {
	if err := llamaref.QuantizeAvailable(); err != nil {
		llamaref.Missing(t, err)
	}
	dir := t.TempDir()
	for cname, c := range quantConfigs(t) {
		src := filepath.Join(dir, cname+"-f32.gguf")
		if err := synth.WriteGGUF(src, c, 3, tensor.F32); err != nil {
			t.Fatal(err)
		}
		for _, ft := range []string{"q4_k_m", "q5_k_m", "q6_k", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_xs", "iq4_nl"} {
			t.Run(cname+"/"+ft, func(t *testing.T) {
				ref := filepath.Join(dir, cname+"-"+ft+"-llama.gguf")
				if log, err := llamaref.Quantize(src, ref, ft, false); err != nil {
					t.Fatalf("%v\n%s", err, log)
				}
				var buf bytes.Buffer
				if err := gguf.QuantizeFile(open(t, src), ft, &buf); err != nil {
					t.Fatal(err)
				}
				mine := filepath.Join(dir, cname+"-"+ft+"-cusprun.gguf")
				if err := os.WriteFile(mine, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				compareQuantized(t, open(t, ref), open(t, mine))
			})
		}
	}
}

// compareQuantized checks tensor types and counts identical blocks per type.
func compareQuantized(t *testing.T, ref, got *gguf.File) {
	t.Helper()
	if len(ref.Tensors) != len(got.Tensors) {
		t.Fatalf("llama.cpp wrote %d tensors, cusprun %d", len(ref.Tensors), len(got.Tensors))
	}
	same, total := map[string]int{}, map[string]int{}
	for _, rt := range ref.Tensors {
		gt, ok := got.Tensor(rt.Name)
		if !ok {
			t.Fatalf("tensor %s missing", rt.Name)
		}
		if gt.Type != rt.Type {
			t.Errorf("%s: cusprun chose %s, llama.cpp %s", rt.Name, gt.Type, rt.Type)
			continue
		}
		a, err := rt.ReadRaw(0, rt.Rows())
		if err != nil {
			t.Fatal(err)
		}
		b, err := gt.ReadRaw(0, gt.Rows())
		if err != nil {
			t.Fatal(err)
		}
		_, bs, _ := rt.Type.Block()
		name := rt.Type.String()
		first := -1
		for off := 0; off < len(a); off += int(bs) {
			total[name]++
			if bytes.Equal(a[off:off+int(bs)], b[off:off+int(bs)]) {
				same[name]++
			} else if first < 0 {
				first = off / int(bs)
			}
		}
		if first >= 0 {
			t.Errorf("%s (%s): block %d differs: llama.cpp % x, cusprun % x", rt.Name, name, first,
				a[first*int(bs):(first+1)*int(bs)], b[first*int(bs):(first+1)*int(bs)])
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
	}
	t.Logf("identical blocks per type:%s", line)
}

// edgeRow fills one row of 256 with a pattern that stresses a quantizer's
// corner cases, chosen by r: zeros, a constant, one spike, values near
// float16's underflow, large values, one sign only, signed zeros, and ties
// that round half-way.
func edgeRow(r int, row []float32) {
	seed := uint32(r*2654435761 + 1)
	rnd := func() float32 { // uniform in [-1, 1)
		seed = seed*1664525 + 1013904223
		return float32(int32(seed)) / (1 << 31)
	}
	for i := range row {
		switch r % 9 {
		case 0:
			row[i] = 0
		case 1:
			row[i] = 0.5
		case 2:
			row[i] = 0
			if i == r%256 {
				row[i] = 3
			}
		case 3:
			row[i] = 1e-6 * rnd()
		case 4:
			row[i] = 1e4 * rnd()
		case 5:
			row[i] = -abs(rnd()) - 0.25
		case 6:
			row[i] = float32(i%3-1) * 0 * rnd() // +0 and -0
			if i%17 == 0 {
				row[i] = rnd()
			}
		case 7:
			row[i] = float32(i%16-8) / 8 // levels that land on half-way points
		default:
			row[i] = rnd()
		}
	}
}

func abs(f float32) float32 {
	if f < 0 {
		return -f
	}
	return f
}

// TestQuantizeEdgeValues replaces one matrix of a synthetic model with
// corner-case rows and checks that every block tensor.Encode writes for it,
// and for a matrix of the synthetic values, in every type, equals
// llama.cpp's (one type for all matrices: pure).
func TestQuantizeEdgeValues(t *testing.T) {
	if err := llamaref.QuantizeAvailable(); err != nil {
		llamaref.Missing(t, err)
	}
	dir := t.TempDir()
	c := quantConfigs(t)["k8-qwen2-tied"]
	base := filepath.Join(dir, "base.gguf")
	if err := synth.WriteGGUF(base, c, 3, tensor.F32); err != nil {
		t.Fatal(err)
	}
	f := open(t, base)
	const edge = "blk.0.attn_q.weight"
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range f.KVs {
		w.SetKV(kv)
	}
	for _, tt := range f.Tensors {
		w.AddTensorType(tt.Name, tt.Shape, tt.Type)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range f.Tensors {
		raw, err := tt.ReadRaw(0, tt.Rows())
		if err != nil {
			t.Fatal(err)
		}
		if tt.Name == edge {
			vals := make([]float32, tt.Elems())
			for r := 0; r < tt.Rows(); r++ {
				edgeRow(r, vals[r*tt.Cols():(r+1)*tt.Cols()])
			}
			raw, _ = tensor.Encode(nil, vals, tensor.F32)
		}
		if err := w.WriteTensor(tt.Name, raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "edge-f32.gguf")
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ft := range []string{"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k", "iq4_nl", "iq4_xs"} {
		t.Run(ft, func(t *testing.T) {
			ref := filepath.Join(dir, ft+"-llama.gguf")
			if log, err := llamaref.Quantize(src, ref, ft, true); err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			for _, name := range []string{edge, "blk.1.ffn_up.weight"} {
				rt, _ := open(t, ref).Tensor(name)
				st, _ := open(t, src).Tensor(name)
				d, ok := rt.Type.DType()
				if !ok {
					t.Fatalf("llama.cpp wrote %s as %s", name, rt.Type)
				}
				vals := make([]float32, st.Elems())
				if err := st.ReadF32(vals, 0, st.Rows()); err != nil {
					t.Fatal(err)
				}
				got, err := tensor.Encode(nil, vals, d)
				if err != nil {
					t.Fatal(err)
				}
				want, err := rt.ReadRaw(0, rt.Rows())
				if err != nil {
					t.Fatal(err)
				}
				_, bs, _ := rt.Type.Block()
				same, n := 0, len(want)/int(bs)
				for i := 0; i < n; i++ {
					a, b := want[i*int(bs):(i+1)*int(bs)], got[i*int(bs):(i+1)*int(bs)]
					if bytes.Equal(a, b) {
						same++
					} else if same == i {
						t.Errorf("%s %s block %d (row %d) differs:\nllama.cpp % x\ncusprun   % x", name, rt.Type, i, i*int(bs)/int(rt.RowBytes()), a, b)
					}
				}
				t.Logf("%s %s: %d/%d blocks identical", name, rt.Type, same, n)
				if same != n {
					t.Errorf("%d of %d blocks differ", n-same, n)
				}
			}
		})
	}
}
