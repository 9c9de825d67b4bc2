package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// llamaVocabs are the GGUF vocabularies whose llama.cpp test vectors must
// pass in full.
var llamaVocabs = []string{"llama-spm", "llama-bpe", "qwen2", "phi-3", "gpt-2"}

type vector struct {
	text string
	ids  []int
}

// readVectors reads llama.cpp's .gguf.inp/.gguf.out pair: inputs separated by
// "\n__ggml_vocab_test__\n", one line of space-separated ids per input.
func readVectors(base string) ([]vector, error) {
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		return nil, err
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		return nil, err
	}
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	s := string(inp)
	for pos := 0; pos < len(s); {
		i := strings.Index(s[pos:], sep)
		if i < 0 {
			texts = append(texts, s[pos:])
			break
		}
		texts = append(texts, s[pos:pos+i])
		pos += i + len(sep)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		return nil, fmt.Errorf("%s: %d inputs but %d outputs", base, len(texts), len(lines))
	}
	var vs []vector
	for i, l := range lines {
		v := vector{text: texts[i]}
		for _, f := range strings.Fields(l) {
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("%s.out line %d: %v", base, i+1, err)
			}
			v.ids = append(v.ids, id)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

func TestLlamaCppVectors(t *testing.T) {
	deps := depsDir(t, "llama.cpp/models/ggml-vocab-llama-spm.gguf")
	for _, name := range llamaVocabs {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-"+name+".gguf")
			tk, err := LoadPath(base)
			if err != nil {
				t.Fatal(err)
			}
			vs, err := readVectors(base)
			if err != nil {
				t.Fatal(err)
			}
			pass := 0
			for _, v := range vs {
				got := tk.Encode(v.text, EncodeOptions{})
				if !equalInts(got, v.ids) {
					t.Errorf("%q:\n got  %v\n want %v", v.text, got, v.ids)
					continue
				}
				pass++
			}
			t.Logf("llama.cpp vectors %s: %d/%d passed", name, pass, len(vs))
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
