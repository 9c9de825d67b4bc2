package model_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/safetensors"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// writeModel makes a tiny llama folder and returns its path.
func writeModel(t *testing.T) string {
	t.Helper()
	c, _ := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 1, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	var m map[string]any
	json.Unmarshal(b, &m)
	edit(m)
	b, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
}

// TestBadModels checks that broken or unsupported models give one clear
// line naming the problem, never a panic.
func TestBadModels(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{"unsupported model_type", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["model_type"] = "gpt_neox" })
		}, `model_type "gpt_neox" is not supported`},
		{"missing model_type", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { delete(m, "model_type") })
		}, "no model_type"},
		{"quantized checkpoint", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["quantization_config"] = map[string]any{"quant_method": "gptq", "bits": 4} })
		}, "a gptq-quantized checkpoint (quantization_config) is not supported"},
		{"MLX checkpoint", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["quantization"] = map[string]any{"group_size": 64, "bits": 4} })
		}, "an MLX 4-bit checkpoint (quantization) is not supported"},
		{"config not json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{hidden_size: 3"), 0o644)
		}, "config.json"},
		{"heads not dividing", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["num_key_value_heads"] = 3 })
		}, "not a multiple of 3 KV heads"},
		{"wrong shape", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["intermediate_size"] = 100 })
		}, "has shape [160 64], want [100 64]"},
		{"missing tensor", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["num_hidden_layers"] = 3 })
		}, "tensor model.layers.2.input_layernorm.weight is missing"},
		{"empty weights", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors"), nil, 0o644)
		}, "model.safetensors"},
		{"truncated weights", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, "run past the end of the data"},
		{"index pointing outside", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "w.bin"))
			idx := `{"weight_map": {"model.embed_tokens.weight": "../../etc/passwd"}}`
			os.WriteFile(filepath.Join(dir, safetensors.IndexName), []byte(idx), 0o644)
		}, "../../etc/passwd"},
		{"no weights", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model.safetensors"))
		}, "safetensors"},
		{"pickle weights", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "pytorch_model.bin"))
		}, "model folder has pytorch_model.bin, PyTorch's pickle format, which is not read"},
		{"no model", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "config.json"))
		}, "no model found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeModel(t)
			c.break_(t, dir)
			_, err := model.OpenPath(dir)
			if err == nil {
				t.Fatal("opened a broken model")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q; want one line containing %q", msg, c.want)
			}
		})
	}
}

// TestOneFileIsNotAModel: a path to one file of a model folder (its
// config.json, its safetensors) says to give the folder, and a file that
// is no model says what is expected; both before anything else is read.
func TestOneFileIsNotAModel(t *testing.T) {
	dir := writeModel(t)
	other := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(other, []byte("hello"), 0o644)
	for path, want := range map[string]string{
		filepath.Join(dir, "config.json"):       "config.json is one file of the model folder " + dir + ": give the folder",
		filepath.Join(dir, "model.safetensors"): "model.safetensors is one file of the model folder " + dir + ": give the folder",
		other:                                   "notes.txt is not a model: give a model folder (config.json and safetensors), a .gguf file or a .zip of a model folder",
	} {
		_, err := model.OpenPath(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", path, err, want)
		}
	}
}

// TestBadTokenIDs checks ids outside the vocabulary are refused.
func TestBadTokenIDs(t *testing.T) {
	m, err := model.OpenPath(writeModel(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LastLogits(model.CPU{}, []int{1, 384}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("id 384 of a 384-token vocabulary: %v", err)
	}
}

// FuzzParseHFConfig: any config.json either parses into a config that
// validates or gives an error; never a panic. The seeds (every synthetic
// family's config) are made once, before f.Fuzz, and an input is at most
// 64 KiB, so one input costs milliseconds.
func FuzzParseHFConfig(f *testing.F) {
	for _, fam := range synth.Families {
		c, _ := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
		b, _ := model.HFConfigJSON(c, "bfloat16")
		f.Add(b)
	}
	f.Add([]byte(`{"model_type":"llama","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":0}`))
	f.Add([]byte(`{"model_type":"phi3","rope_scaling":{"type":"longrope","short_factor":[1],"long_factor":[]}}`))
	f.Add([]byte(`{"model_type":"qwen3","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,"rope_parameters":{"rope_theta":1e6,"rope_type":"linear","factor":2}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		c, err := model.ParseHFConfig(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed a config that does not validate: %v", err)
		}
		c.InvFreq(10)
		c.Specs()
	})
}

// TestTiedFromFiles: a config.json without tie_word_embeddings is read as
// its files say (tied only without an lm_head), so the same weights give
// the same logits with and without the key. Every family here defaults
// the key to false in transformers; before, its absence meant tied, and an
// untied llama's lm_head was silently replaced by the embedding.
func TestTiedFromFiles(t *testing.T) {
	for _, tc := range []struct {
		family string
		tied   bool
	}{{"llama", false}, {"llama", true}, {"qwen2", true}, {"phi", false}, {"phi3", false}} {
		c, err := synth.Config(synth.Options{Family: tc.family, Shape: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		c.Tied = tc.tied
		dir := filepath.Join(t.TempDir(), "m")
		if err := synth.WriteHF(dir, c, 1, tensor.BF16, ""); err != nil {
			t.Fatal(err)
		}
		logits := func() ([]float32, bool) {
			m, err := model.OpenPath(dir)
			if err != nil {
				t.Fatalf("%s tied=%v: %v", tc.family, tc.tied, err)
			}
			l, err := m.LastLogits(model.CPU{}, []int{1, 5, 9, 13})
			if err != nil {
				t.Fatal(err)
			}
			return l, m.Config.Tied
		}
		want, wantTied := logits()
		if wantTied != tc.tied {
			t.Fatalf("%s written with tie_word_embeddings=%v opens as tied=%v", tc.family, tc.tied, wantTied)
		}
		editConfig(t, dir, func(m map[string]any) { delete(m, "tie_word_embeddings") })
		got, gotTied := logits()
		if gotTied != tc.tied {
			t.Fatalf("%s without the key (lm_head in the files: %v) opens as tied=%v", tc.family, !tc.tied, gotTied)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s tied=%v: logit %d is %v without the key, %v with it", tc.family, tc.tied, i, got[i], want[i])
			}
		}
	}
}

// copyGGUF writes a copy of the GGUF file at from to to, with the metadata
// in set added or replaced and only the first keep tensors.
func copyGGUF(t *testing.T, from, to string, set map[string]any, keep int) {
	t.Helper()
	src, err := source.OpenPath(from)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := src.Open(filepath.Base(from))
	f, err := gguf.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range f.KVs {
		w.SetKV(kv)
	}
	for k, v := range set {
		w.Set(k, v)
	}
	for _, tt := range f.Tensors[:keep] {
		w.AddTensorType(tt.Name, tt.Shape, tt.Type)
	}
	w.WriteHeader()
	for _, tt := range f.Tensors[:keep] {
		raw, err := tt.ReadRaw(0, tt.Rows())
		if err != nil {
			t.Fatal(err)
		}
		w.WriteTensor(tt.Name, raw)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeGGUF makes a tiny llama GGUF and returns its path and tensor count.
func writeGGUF(t *testing.T) (string, int) {
	t.Helper()
	c, _ := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := synth.WriteGGUF(p, c, 1, tensor.F32); err != nil {
		t.Fatal(err)
	}
	return p, len(c.Specs())
}

// TestSplitGGUF: one part of a GGUF split by llama-gguf-split (split.count
// in its metadata; the other parts hold the rest of the tensors) is refused
// with what to do, not as a missing tensor.
func TestSplitGGUF(t *testing.T) {
	whole, n := writeGGUF(t)
	part := filepath.Join(t.TempDir(), "m-00001-of-00002.gguf")
	copyGGUF(t, whole, part, map[string]any{"split.no": uint16(0), "split.count": uint16(2), "split.tensors.count": int32(n)}, n/2)
	_, err := model.OpenPath(part)
	if err == nil || !strings.Contains(err.Error(), "m-00001-of-00002.gguf is part 1 of a GGUF split in 2: merge the parts") {
		t.Fatalf("opening one part of a split GGUF: %v", err)
	}
}

// TestGGUFRopeScaling: a rope scaling type this engine does not run (YaRN)
// is refused in one line, as is a llama file with experts (Mixtral); the
// scalings it runs, or that leave the rotary embedding as it is, open.
func TestGGUFRopeScaling(t *testing.T) {
	whole, n := writeGGUF(t)
	for typ, want := range map[string]string{
		"yarn": `metadata llama.rope.scaling.type "yarn" is not supported`, "none": "", "linear": "",
		"moe": "llama with 8 experts (mixture of experts) is not supported",
	} {
		p := filepath.Join(t.TempDir(), "r.gguf")
		set := map[string]any{"llama.rope.scaling.type": typ, "llama.rope.scaling.factor": float32(2)}
		if typ == "moe" {
			set = map[string]any{"llama.expert_count": uint32(8)}
		}
		copyGGUF(t, whole, p, set, n)
		m, err := model.OpenPath(p)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", typ, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v; want %q", typ, err, want)
		case typ == "linear" && (m.Config.Rope.Type != "linear" || m.Config.Rope.Factor != 2):
			t.Errorf("linear: rope %+v", m.Config.Rope)
		}
	}
}
