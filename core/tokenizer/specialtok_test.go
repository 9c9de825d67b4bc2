package tokenizer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// specialTexts are token texts that are control, unknown or user-defined in
// one GGUF vocabulary or another (phi-3's "</s>" is user-defined there, yet
// llama.cpp makes it a control token by its text).
var specialTexts = []string{
	"</s>", "<s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>",
	"<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "<|placeholder1|>",
	"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
	"<|reserved_special_token_0|>", "[PAD151646]", "[PAD32011]",
}

// specialInputs puts token texts into the contexts where the matching rules
// differ: alone, inside words, between spaces and newlines (phi-3's tokens
// swallow whitespace on their right), doubled, and overlapping.
func specialInputs(tk *Tokenizer) []string {
	toks := append([]string(nil), specialTexts...)
	// the texts llama.cpp retypes tokens by, whichever this vocabulary holds
	toks = append(toks, eogTexts...)
	for _, k := range fimKinds {
		toks = append(toks, k.texts...)
	}
	// and the vocabulary's own matched tokens: a few of each kind
	perKind := map[bool]int{}
	for _, a := range tk.added.toks {
		if perKind[a.special] < 4 {
			perKind[a.special]++
			toks = append(toks, a.content)
		}
	}
	var in []string
	for _, s := range toks {
		_, n := utf8.DecodeLastRuneInString(s)
		in = append(in, s, "a"+s+"b", " "+s+" x", "Hello"+s+"\n\n  world", s+s, "\t"+s+"\t\n", "<"+s+">", s[:len(s)-n]+" "+s)
	}
	in = append(in,
		"<|user|>\nHi there<|end|>\n<|assistant|>",
		"<|im_start|>system\nYou are<|im_end|>\n<|im_start|>user\nx<|im_end|>",
		"<s>[INST] q [/INST] a</s><s>",
		"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
		"</s></s>", "<s></s>", "< /s>", "</s >", "<|endoftext|><|endoftext|>",
	)
	return in
}

// TestSpecialTokensVsLlamaCpp tokenizes text holding control, unknown and
// user-defined token texts with every GGUF vocabulary, with and without
// parsing specials, and compares with llama.cpp itself (llama_tokenize
// through node-llama-cpp's prebuilt libllama, vocabulary only).
func TestSpecialTokensVsLlamaCpp(t *testing.T) {
	deps := depsDir(t, "llama.cpp/models/ggml-vocab-phi-3.gguf")
	if err := llamaref.Available(deps); err != nil {
		llamaref.Missing(t, err)
	}
	// and vocabularies with fill-in-the-middle tokens
	for _, name := range append(append([]string(nil), llamaVocabs...), "starcoder", "refact", "command-r", "mpt") {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-"+name+".gguf")
			tk, err := LoadPath(path)
			if err != nil {
				t.Fatal(err)
			}
			in := specialInputs(tk)
			for _, special := range []bool{false, true} {
				want, err := llamaref.TokenizeSpecial(path, in, special)
				if err != nil {
					t.Fatal(err)
				}
				pass, asToken := 0, 0
				for i, s := range in {
					got := tk.Encode(s, EncodeOptions{ParseSpecial: special})
					if !equalInts(got, want[i]) {
						t.Errorf("special %v, %q:\n got  %v\n want %v (llama.cpp)", special, s, got, want[i])
						continue
					}
					pass++
					for _, id := range got {
						if tk.isAdded(id) {
							asToken++
							break
						}
					}
				}
				t.Logf("%s special %v: %d/%d as llama.cpp (%d with a whole added token)", name, special, pass, len(in), asToken)
			}
		})
	}
}

// TestPhi3EndOfTextIsControl is the case that was wrong: phi-3's GGUF types
// "</s>" user-defined, but llama.cpp makes it control by its text, so it is
// plain text unless specials are parsed (the ids are the vocabulary's own:
// "</s>" and the pieces of "</s>" as text).
func TestPhi3EndOfTextIsControl(t *testing.T) {
	deps := depsDir(t, "llama.cpp/models/ggml-vocab-phi-3.gguf")
	tk, err := LoadPath(filepath.Join(deps, "llama.cpp/models/ggml-vocab-phi-3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	eos, ok := tk.ID("</s>")
	if !ok || tk.gguf.types[eos] != ggufUserDefined {
		t.Fatalf("phi-3 vocabulary: want \"</s>\" typed user-defined, got id %d", eos)
	}
	if !tk.IsSpecial(eos) {
		t.Errorf("\"</s>\" is not special")
	}
	plain := tk.Encode("a</s>", EncodeOptions{})
	for _, id := range plain {
		if id == eos {
			t.Errorf("without ParseSpecial \"a</s>\" gave the token </s>: %v", plain)
		}
	}
	if got := tk.Decode(plain); got != "a</s>" {
		t.Errorf("decode(encode(\"a</s>\")) = %q", got)
	}
	sp := tk.Encode("a</s>  b", EncodeOptions{ParseSpecial: true})
	// "</s>" swallows the spaces on its right (phi-3), so "b" follows it as a
	// new fragment with SentencePiece's leading space.
	b, _ := tk.ID("\u2581b")
	if len(sp) != 3 || sp[1] != eos || sp[2] != b {
		t.Errorf("with ParseSpecial \"a</s>  b\" = %v, want [a </s> ▁b]", sp)
	}
}

// ruleTokens are added to a copy of the gpt-2 vocabulary to exercise each of
// llama.cpp's token-type rules: text, GGUF type, and the rule.
var ruleTokens = []struct {
	text string
	typ  int32
}{
	{"<ab", ggufUserDefined},              // overlaps the next one: the longer text is taken first
	{"b>>>", ggufUserDefined},             //
	{"<|im_end|>", ggufUserDefined},       // end of generation: made control
	{"</s>", ggufUserDefined},             // made control, then normal beside "<|tool_response>"
	{"<|tool_response>", ggufUserDefined}, // end of generation: made control
	{"<|channel|>", ggufControl},          // gpt-oss: made user-defined
	{"<|fim_prefix|>", ggufUserDefined},   // fill-in-the-middle by text: made control
	{"<|end|>", ggufUserDefined},          // beside <|return|> and <|call|>: user-defined again
	{"<|return|>", ggufUserDefined},       // made control
	{"<|call|>", ggufUserDefined},         // made control
	{"<pad7>", ggufUnknown},               // matched only when parsing specials
	{"<u>", ggufUnused},                   // never matched
	{"<unk>", ggufUnknown},                // with <s>: a phi3 name needs both (llama.cpp does not load without)
	{"<s>", ggufControl},                  //
	{"", ggufControl},                     // llama.cpp names it [EMPTY_id]
}

// ruleVocab writes the gpt-2 vocabulary with ruleTokens appended, named name
// (a name holding "phi3" makes llama.cpp's matched tokens strip whitespace on
// their right).
func ruleVocab(t *testing.T, deps, dir, name string) string {
	src, err := os.ReadFile(filepath.Join(deps, "llama.cpp/models/ggml-vocab-gpt-2.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(&source.Bytes{B: src, Path: "ggml-vocab-gpt-2.gguf"})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	types, _ := f.Int32s("tokenizer.ggml.token_type")
	for _, r := range ruleTokens {
		toks = append(toks, r.text)
		types = append(types, r.typ)
	}
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	for _, kv := range f.KVs {
		if err := w.SetKV(kv); err != nil {
			t.Fatal(err)
		}
	}
	w.SetStrings("tokenizer.ggml.tokens", toks)
	w.SetInt32s("tokenizer.ggml.token_type", types)
	w.SetString("general.name", name)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTokenTypeRulesVsLlamaCpp checks each of llama.cpp's token-type rules
// on a vocabulary made to hold them all, against llama.cpp itself.
func TestTokenTypeRulesVsLlamaCpp(t *testing.T) {
	deps := depsDir(t, "llama.cpp/models/ggml-vocab-gpt-2.gguf")
	if err := llamaref.Available(deps); err != nil {
		llamaref.Missing(t, err)
	}
	dir := t.TempDir()
	for _, name := range []string{"rules", "phi3-rules"} {
		t.Run(name, func(t *testing.T) {
			path := ruleVocab(t, deps, dir, name)
			tk, err := LoadPath(path)
			if err != nil {
				t.Fatal(err)
			}
			empty := fmt.Sprintf("[EMPTY_%d]", tk.VocabSize()-1)
			in := []string{"<ab>>>", "x<ab>>> <ab  b>>>\t\ty", empty, "a" + empty + " b", "<u>", "\u00a0<pad7>\u00a0<ab\v\f\r\nz"}
			for _, r := range ruleTokens[2:] {
				if r.text != "" {
					in = append(in, r.text, "a"+r.text+"  b", " "+r.text+"\n"+r.text)
				}
			}
			for _, special := range []bool{false, true} {
				want, err := llamaref.TokenizeSpecial(path, in, special)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range in {
					if got := tk.Encode(s, EncodeOptions{ParseSpecial: special}); !equalInts(got, want[i]) {
						t.Errorf("special %v, %q:\n got  %v\n want %v (llama.cpp)", special, s, got, want[i])
					}
				}
			}
		})
	}
}
