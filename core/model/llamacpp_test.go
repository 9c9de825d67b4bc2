package model_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// TestAgainstLlamaCpp writes each family as an HF folder and as GGUF, runs
// the GGUF in llama.cpp (node-llama-cpp), and compares log-probabilities at
// every position with the engine on both files.
func TestAgainstLlamaCpp(t *testing.T) {
	if err := llamaref.Available(llamaref.DepsDir()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("llama.cpp reference missing in CI: %v", err)
		}
		t.Skipf("llama.cpp reference not installed (./build.sh setup): %v", err)
	}
	ids := []int{1, 17, 200, 45, 45, 3, 380, 99, 7, 150, 22, 301, 260, 261, 5, 9}
	for _, o := range Cases {
		t.Run(caseName(o), func(t *testing.T) {
			c, err := synth.Config(o)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			hf, gg := filepath.Join(dir, "hf"), filepath.Join(dir, "m.gguf")
			if err := synth.WriteHF(hf, c, 11, tensor.BF16, ""); err != nil {
				t.Fatal(err)
			}
			if err := synth.WriteGGUFRounded(gg, c, 11, tensor.BF16, tensor.BF16); err != nil {
				t.Fatal(err)
			}
			// llama.cpp's CPU kernels round activations to bf16 when the
			// weights are bf16; an F32 file with the same (bf16-rounded)
			// values makes it compute in float32 like the engine.
			ref32 := filepath.Join(dir, "ref-f32.gguf")
			if err := synth.WriteGGUFRounded(ref32, c, 11, tensor.F32, tensor.BF16); err != nil {
				t.Fatal(err)
			}
			ref, err := llamaref.Eval(ref32, ids, llamaref.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{hf, gg} {
				m, err := model.OpenPath(path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.AllLogits(model.CPU{}, ids)
				if err != nil {
					t.Fatal(err)
				}
				a := ref.Compare(got, c.Vocab, math.Inf(-1))
				worst, scale, top1 := a.MaxDiff, a.Scale, a.Top1
				t.Logf("%s (%s): top-1 agrees at %d/%d positions, max |log p - log p(llama.cpp)| = %.3g (logit scale %.3g)",
					filepath.Base(path), m.Format, top1, len(ids), worst, scale)
				if top1 != len(ids) {
					t.Errorf("top-1 token differs from llama.cpp at %d positions", len(ids)-top1)
				}
				// ggml's CPU GELU reads an fp16 lookup table (GGML_GELU_FP16),
				// so phi's MLP carries half-precision error there.
				tol := 1e-4 * scale
				if c.Family == "phi" {
					tol = 5e-4 * scale
				}
				if worst > tol {
					t.Errorf("log-probabilities differ from llama.cpp by %.3g (tolerance %.3g)", worst, tol)
				}
			}
		})
	}
}
