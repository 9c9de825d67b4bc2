package export_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// rowValues fills a tensor with element (r, c) = 1000r + c, exact in F32,
// so every row can be recognised after the writer reorders rows.
func rowValues(in tensor.Info) []float32 {
	v := make([]float32, in.Elems())
	cols := in.Cols()
	for i := range v {
		v[i] = float32(1000*(i/cols) + i%cols)
	}
	return v
}

// TestGGUFWrite writes a model's layout as GGUF and reads it back: the
// architecture keys from the config, the extra metadata, every tensor with
// its shape and dtype, rows in place, except llama's Q and K whose rows
// follow llama.cpp's order (within each head, row 2i+j holds the source's
// row j*hd/2+i), and llama3's rope divisors as an extra tensor.
func TestGGUFWrite(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2"} {
		t.Run(fam, func(t *testing.T) {
			o := synth.Options{Family: fam, Shape: "tiny", Layers: 1}
			if fam == "llama" {
				o.Rope = "llama3"
			}
			c, err := synth.Config(o)
			if err != nil {
				t.Fatal(err)
			}
			layout := export.GGUFLayout(c, tensor.F32)
			out := filepath.Join(t.TempDir(), "m.gguf")
			meta := func(w *gguf.Writer) error { w.SetString("test.key", "here"); return nil }
			data := func(g export.GGUFTensor) ([]byte, error) { return tensor.Encode(nil, rowValues(g.Info), g.Info.DType) }
			if err := export.GGUFile(out, c, "test-model", layout, meta, data); err != nil {
				t.Fatal(err)
			}
			src, err := source.OpenFile(out)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			f, err := gguf.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			str := func(k string) string { s, _ := f.String(k); return s }
			num := func(k string) int { v, _ := f.Uint(k); return int(v) }
			if str("general.architecture") != fam || str("general.name") != "test-model" || str("test.key") != "here" {
				t.Errorf("architecture %q name %q test.key %q", str("general.architecture"), str("general.name"), str("test.key"))
			}
			for k, want := range map[string]int{"block_count": c.Layers, "embedding_length": c.Hidden, "feed_forward_length": c.FFN,
				"attention.head_count": c.Heads, "attention.head_count_kv": c.KVHeads, "context_length": c.MaxPos,
				"rope.dimension_count": c.Rope.Dim, "attention.key_length": c.HeadDim, "vocab_size": c.Vocab} {
				if got := num(fam + "." + k); got != want {
					t.Errorf("%s.%s = %d, want %d", fam, k, got, want)
				}
			}
			for _, g := range layout {
				ft, ok := f.Tensor(g.Info.Name)
				if !ok {
					t.Fatalf("%s is missing", g.Info.Name)
				}
				if !slices.Equal(ft.Shape, g.Info.Shape) || ft.DType != g.Info.DType {
					t.Errorf("%s: %v %s, want %v %s", g.Info.Name, ft.Shape, ft.DType, g.Info.Shape, g.Info.DType)
				}
				if g.Extra {
					continue
				}
				got := make([]float32, ft.Elems())
				if err := ft.ReadF32(got, 0, ft.Rows()); err != nil {
					t.Fatal(err)
				}
				r := g.Spec.Role
				permuted := fam == "llama" && (r == model.RoleQ || r == model.RoleK)
				cols, hd := g.Info.Cols(), c.HeadDim
				for row := 0; row < g.Info.Rows(); row++ {
					srcRow := row
					if permuted {
						h, k := row/hd, row%hd
						srcRow = h*hd + (k%2)*(hd/2) + k/2
					}
					for col := 0; col < cols; col += 7 {
						if want := float32(1000*srcRow + col); got[row*cols+col] != want {
							t.Fatalf("%s (%d, %d) = %g, want %g (source row %d)", g.Info.Name, row, col, got[row*cols+col], want, srcRow)
						}
					}
				}
			}
			if fam == "llama" {
				rf, ok := f.Tensor("rope_freqs.weight")
				if !ok {
					t.Fatal("llama3 rope scaling wrote no rope_freqs.weight")
				}
				v := make([]float32, rf.Elems())
				rf.ReadF32(v, 0, 1)
				// the fastest dimension turns far within the high-frequency
				// wavelength (no scaling); the slowest beyond the low one (factor)
				if len(v) != c.Rope.Dim/2 || v[0] != 1 || float64(v[len(v)-1]) != c.Rope.Factor {
					t.Errorf("rope_freqs %v, want %d values from 1 to %g", v, c.Rope.Dim/2, c.Rope.Factor)
				}
			}
		})
	}
}
