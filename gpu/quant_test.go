//go:build !js && !wasip1

package gpu

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// quantModel writes a synthetic llama whose rows are whole 256-value
// super-blocks as F32 GGUF, quantizes it to file type ft (with cusprun's
// quantizer, or llama.cpp's for the types cusprun does not write) and opens it.
func quantModel(t *testing.T, ft string) *model.Model {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	c.Hidden, c.FFN, c.HeadDim, c.Rope.Dim = 256, 512, 64, 64
	dir := t.TempDir()
	src, out := filepath.Join(dir, "f32.gguf"), filepath.Join(dir, ft+".gguf")
	if err := synth.WriteGGUF(src, c, 7, tensor.F32); err != nil {
		t.Fatal(err)
	}
	switch ft {
	case "q2_k", "q3_k_m":
		if err := llamaref.QuantizeAvailable(); err != nil {
			llamaref.Missing(t, err)
		}
		if log, err := llamaref.Quantize(src, out, ft, true); err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
	default:
		s, err := source.OpenFile(src)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f, err := gguf.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		o, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := gguf.QuantizeFile(f, ft, o); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	m, err := model.OpenPath(out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestQuantLogitsMatchCPU runs quantized GGUF models on the GPU engine, which
// uploads the blocks as bytes and dequantizes them in the shader, and
// compares the logits with the CPU engine's (which dequantizes on the host).
func TestQuantLogitsMatchCPU(t *testing.T) {
	d := device(t)
	be := newOn(d)
	for _, ft := range []string{"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_m", "q5_k_m", "q6_k", "q2_k", "q3_k_m"} {
		t.Run(ft, func(t *testing.T) {
			m := quantModel(t, ft)
			L, err := m.LoadLayer(0)
			if err != nil {
				t.Fatal(err)
			}
			w, err := uploadWeight(d, L.Q)
			if err != nil {
				t.Fatal(err)
			}
			if w.DType != L.Q.DType || !w.DType.Quantized() {
				t.Errorf("attn_q (%s) went up as %s, not as its blocks", L.Q.DType, w.DType)
			}
			w.Release()

			ids := tokens(11, m.Config.Vocab, 2)
			want, err := m.AllLogits(model.CPU{}, ids)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.AllLogits(be, ids)
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config.Vocab
			worst := 0.0
			for pos := range ids {
				e, at := maxRel(got[pos*V:(pos+1)*V], want[pos*V:(pos+1)*V], 1)
				if e > logitTol {
					t.Errorf("position %d: max rel error %.3g at vocab %d: got %g want %g", pos, e, at, got[pos*V+at], want[pos*V+at])
				}
				worst = math.Max(worst, e)
			}
			t.Logf("%s (attn_q %s): max rel logit error GPU vs CPU over %d positions: %.2e", ft, L.Q.DType, len(ids), worst)
		})
	}
}
