package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// call runs a verb in-process, returning its stdout, stderr and exit code.
func call(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	Stdout, Stderr = &out, &errb
	defer func() { Stdout, Stderr = os.Stdout, os.Stderr }()
	code := Main(args)
	return out.String(), errb.String(), code
}

func mustCall(t *testing.T, args ...string) map[string]json.RawMessage {
	t.Helper()
	out, errs, code := call(args...)
	if code != 0 {
		t.Fatalf("cusprun %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("cusprun %s printed %q", strings.Join(args, " "), out)
	}
	return m
}

// TestPrunedGGUFInLlamaCpp prunes a model of every family into a German
// expert as GGUF (uniform; and adaptive, written as deci, for llama) and
// checks that llama.cpp loads it and computes what the engine computes.
func TestPrunedGGUFInLlamaCpp(t *testing.T) {
	if err := llamaref.Available(llamaref.DepsDir()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("llama.cpp reference missing in CI: %v", err)
		}
		t.Skipf("llama.cpp reference not installed (./build.sh setup): %v", err)
	}
	type tc struct {
		fam, placement string
	}
	cases := []tc{{"llama", "uniform"}, {"llama", "adaptive"}, {"qwen2", "uniform"}, {"qwen3", "uniform"}, {"phi3", "uniform"}, {"phi", "uniform"}}
	for _, k := range cases {
		t.Run(k.fam+"-"+k.placement, func(t *testing.T) {
			c, err := synth.Config(synth.Options{Family: k.fam, Shape: "tiny", Layers: 3})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "src.gguf")
			// F32 storage of bf16-rounded values: llama.cpp then computes in float32.
			if err := synth.WriteGGUFRounded(src, c, 9, tensor.F32, tensor.BF16); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "expert.gguf")
			res := mustCall(t, "prune", "--model", src, "--language", "de", "--ratio", "0.3", "--placement", k.placement,
				"--format", "gguf", "--out", out, "--eval=false", "--max-docs", "8", "--max-tokens", "64")
			var kept struct {
				FFN []int `json:"ffn"`
				KV  []int `json:"kv_heads"`
			}
			json.Unmarshal(res["kept"], &kept)
			if _, err := os.Stat(ReportPath(out)); err != nil {
				t.Errorf("no report beside the output: %v", err)
			}
			m, err := model.OpenPath(out)
			if err != nil {
				t.Fatal(err)
			}
			want := export.GGUFArch(c)
			switch {
			case k.placement == "adaptive":
				want = "deci"
			case (k.fam == "qwen2" || k.fam == "phi3") && kept.KV[0] < c.KVHeads:
				want = "llama" // llama.cpp's own qwen2/phi3 graphs cannot hold fewer heads
			}
			if m.Arch != want {
				t.Errorf("architecture %q, want %q", m.Arch, want)
			}
			for l := 0; l < m.Config.Layers; l++ {
				if m.Config.FFNAt(l) != kept.FFN[l] || m.Config.KVHeadsAt(l) != kept.KV[l] {
					t.Errorf("layer %d: FFN %d, KV %d; the summary says %d, %d", l, m.Config.FFNAt(l), m.Config.KVHeadsAt(l), kept.FFN[l], kept.KV[l])
				}
			}
			ids := []int{1, 300, 301, 45, 290, 7, 350, 260, 99, 101}
			got, err := m.AllLogits(model.CPU{}, ids)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := llamaref.Eval(out, ids, llamaref.Options{})
			if err != nil {
				t.Fatal(err)
			}
			a := ref.Compare(got, m.Config.Vocab, math.Inf(-1))
			worst, top1 := a.MaxDiff, a.Top1
			t.Logf("%s %s: kept FFN %v KV %v; top-1 agrees at %d/%d, max |dlogp| %.3g", k.fam, k.placement, kept.FFN, kept.KV, top1, len(ids), worst)
			tol := 2e-3
			if k.fam == "phi" {
				tol = 2e-2 // ggml's fp16 GELU table
			}
			if top1 != len(ids) || worst > tol {
				t.Errorf("llama.cpp disagrees with the engine on the pruned model: top-1 %d/%d, max |dlogp| %.3g", top1, len(ids), worst)
			}
		})
	}
}

// TestUniformConfigKeys prunes each family as an HF folder and checks the
// exported config.json has exactly the source's keys, plus head_dim only
// where fewer heads make hidden/heads wrong, and tie_word_embeddings and
// torch_dtype, which every family knows, with the planned values.
func TestUniformConfigKeys(t *testing.T) {
	for _, fam := range synth.Families {
		t.Run(fam, func(t *testing.T) {
			c, _ := synth.Config(synth.Options{Family: fam, Shape: "small"})
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			if err := synth.WriteHF(src, c, 3, tensor.BF16, ""); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			mustCall(t, "prune", "--model", src, "--language", "de", "--ratio", "0.4", "--out", out, "--eval=false", "--max-docs", "4", "--max-tokens", "32")
			read := func(p string) map[string]any {
				b, err := os.ReadFile(filepath.Join(p, "config.json"))
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				json.Unmarshal(b, &m)
				return m
			}
			before, after := read(src), read(out)
			m, err := model.OpenPath(out)
			if err != nil {
				t.Fatal(err)
			}
			for k := range after {
				if _, ok := before[k]; !ok && !(k == "head_dim" && m.Config.Heads*m.Config.HeadDim != m.Config.Hidden) && k != "tie_word_embeddings" && k != "torch_dtype" {
					t.Errorf("exported config.json has %q, which the source had not", k)
				}
			}
			for k := range before {
				if _, ok := after[k]; !ok {
					t.Errorf("exported config.json lost %q", k)
				}
			}
			if int(after["intermediate_size"].(float64)) != m.Config.FFN || int(after["num_key_value_heads"].(float64)) != m.Config.KVHeads {
				t.Errorf("config.json widths %v/%v, model %d/%d", after["intermediate_size"], after["num_key_value_heads"], m.Config.FFN, m.Config.KVHeads)
			}
		})
	}
}

// TestExportConfigSaysTiedAndDType: the exported config.json says whether
// lm_head is the embedding (a source without the key, which transformers
// reads as untied, comes out saying it) and the dtype the tensors now have,
// under the key the source used (transformers 5's dtype, or torch_dtype).
func TestExportConfigSaysTiedAndDType(t *testing.T) {
	for _, v5 := range []bool{false, true} {
		dir := t.TempDir()
		src := synthSource(t, dir, "qwen2", "small", func(c *model.Config) { c.Tied = true })
		key := "torch_dtype"
		if v5 {
			key = "dtype"
		}
		editJSON(t, filepath.Join(src, "config.json"), func(cfg map[string]any) {
			delete(cfg, "tie_word_embeddings")
			if v5 {
				cfg["dtype"] = cfg["torch_dtype"]
				delete(cfg, "torch_dtype")
			}
		})
		out := filepath.Join(dir, "out")
		mustCall(t, "prune", "--model", src, "--language", "de", "--ratio", "0.3", "--quant", "f16", "--out", out, "--eval=false", "--max-docs", "4", "--max-tokens", "32")
		b, _ := os.ReadFile(filepath.Join(out, "config.json"))
		var after map[string]any
		json.Unmarshal(b, &after)
		if after[key] != "float16" || after["tie_word_embeddings"] != true {
			t.Errorf("v5=%v: exported %s %v, tie_word_embeddings %v; want float16 and true", v5, key, after[key], after["tie_word_embeddings"])
		}
		if _, both := after["torch_dtype"]; v5 && both {
			t.Errorf("a source with dtype came out with torch_dtype too")
		}
		m, err := model.OpenPath(out)
		if err != nil {
			t.Fatal(err)
		}
		if m.DType != tensor.F16 || !m.Config.Tied {
			t.Errorf("v5=%v: the expert's matrices are %v, tied %v", v5, m.DType, m.Config.Tied)
		}
	}
}
