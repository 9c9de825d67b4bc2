package tokenizer

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
)

// lateSpecials is synth's vocabulary of n tokens with <s> and </s> moved
// from ids 1 and 2 to the last two ids (as Llama-3 and Qwen put their
// specials after the ordinary tokens), the tokens there moved to 1 and 2,
// written as tokenizer.json and tokenizer_config.json. Restricting it
// renumbers BOS and EOS.
func lateSpecials(t testing.TB, n int) (tok, cfg []byte) {
	t.Helper()
	v, err := synth.NewVocab(n)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := v.TokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	bos, eos := n-2, n-1
	vocab := doc["model"].(map[string]any)["vocab"].(map[string]any)
	a, b := v.Tokens[bos], v.Tokens[eos]
	vocab["<s>"], vocab["</s>"], vocab[a], vocab[b] = bos, eos, 1, 2
	for _, x := range doc["added_tokens"].([]any) {
		at := x.(map[string]any)
		switch at["content"] {
		case "<s>":
			at["id"] = bos
		case "</s>":
			at["id"] = eos
		}
	}
	doc["post_processor"].(map[string]any)["special_tokens"].(map[string]any)["<s>"].(map[string]any)["ids"] = []int{bos}
	if tok, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	dec := map[string]any{}
	for id, s := range map[int]string{0: "<unk>", bos: "<s>", eos: "</s>", 259: "<|endoftext|>"} {
		dec[strconv.Itoa(id)] = map[string]any{"content": s, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}
	}
	cfg, err = json.Marshal(map[string]any{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
		"added_tokens_decoder": dec, "tokenizer_class": "LlamaTokenizer"})
	if err != nil {
		t.Fatal(err)
	}
	return tok, cfg
}

// ggufKeys writes a tokenizer's GGUF keys and parses them back.
func ggufKeys(t *testing.T, tk *Tokenizer) *gguf.File {
	t.Helper()
	var buf bytes.Buffer
	w := gguf.NewWriter(&buf)
	w.SetString("general.architecture", "llama")
	if err := tk.WriteGGUF(w, 0); err != nil {
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
	return f
}

// checkGGUFSpecials: the GGUF keys' BOS and EOS ids name <s> and </s> in
// the keys' own token list.
func checkGGUFSpecials(t *testing.T, f *gguf.File, bos, eos int) {
	t.Helper()
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	for _, k := range []struct {
		key, piece string
		id         int
	}{{"tokenizer.ggml.bos_token_id", "<s>", bos}, {"tokenizer.ggml.eos_token_id", "</s>", eos}} {
		id, ok := f.Int(k.key)
		if !ok || int(id) != k.id || id < 0 || int(id) >= len(toks) || toks[id] != k.piece {
			t.Errorf("GGUF %s = %d (ok %v), want %d, the id of %q", k.key, id, ok, k.id, k.piece)
		}
	}
}

// TestRestrictRemapsSpecialIDs restricts a vocabulary whose BOS and EOS
// sit after tokens that are removed, from tokenizer.json and from GGUF
// keys, and checks that BOS() and EOS(), the rewritten tokenizer.json,
// tokenizer_config.json, config.json, generation_config.json and GGUF keys
// all carry the new ids, and that these name the same token strings.
func TestRestrictRemapsSpecialIDs(t *testing.T) {
	const n = 384
	tj, cj := lateSpecials(t, n)
	hf, err := ParseTokenizerJSON(tj, cj)
	if err != nil {
		t.Fatal(err)
	}
	if hf.BOS() != n-2 || hf.EOS() != n-1 || hf.Piece(n-2) != "<s>" {
		t.Fatalf("the source tokenizer has BOS %d EOS %d; the test wants %d, %d", hf.BOS(), hf.EOS(), n-2, n-1)
	}
	g, _ := ggufRoundTrip(t, hf, 0)
	for _, src := range []struct {
		name string
		tok  *Tokenizer
	}{{"tokenizer.json", hf}, {"gguf", g}} {
		t.Run(src.name, func(t *testing.T) {
			a := src.tok
			if a.BOS() != n-2 || a.EOS() != n-1 {
				t.Fatalf("source BOS %d EOS %d", a.BOS(), a.EOS())
			}
			keep, _ := a.KeepSet([]string{"the der die und"})
			r, err := a.Restrict(keep)
			if err != nil {
				t.Fatal(err)
			}
			b := r.Tokenizer
			// The new ids, counted by hand: how many kept ids lie below the old one.
			below := func(old int) int {
				c := 0
				for _, id := range r.Map.Keep {
					if id < old {
						c++
					}
				}
				return c
			}
			wantBOS, wantEOS := below(n-2), below(n-1)
			if wantBOS >= n-2 {
				t.Fatalf("the restriction removed nothing below BOS (kept %d of %d); the test needs it to", len(r.Map.Keep), n)
			}
			if b.BOS() != wantBOS || b.EOS() != wantEOS || b.Piece(b.BOS()) != "<s>" || b.Piece(b.EOS()) != "</s>" {
				t.Errorf("restricted BOS %d (%q) EOS %d (%q), want %d and %d", b.BOS(), b.Piece(b.BOS()), b.EOS(), b.Piece(b.EOS()), wantBOS, wantEOS)
			}
			if !b.AddsBOS() {
				t.Error("the restricted tokenizer no longer adds BOS")
			}
			if ids := b.Encode("the", EncodeOptions{AddBOS: true}); len(ids) == 0 || ids[0] != wantBOS {
				t.Errorf("Encode with BOS starts %v, want %d", ids, wantBOS)
			}
			checkGGUFSpecials(t, ggufKeys(t, b), wantBOS, wantEOS)

			// config.json and generation_config.json (a number and a list)
			out, keepFile, err := r.RewriteFile("config.json", []byte(`{"bos_token_id": 382, "eos_token_id": 383, "vocab_size": 384}`))
			var c struct {
				BOS int `json:"bos_token_id"`
				EOS int `json:"eos_token_id"`
			}
			if err != nil || !keepFile || json.Unmarshal(out, &c) != nil || c.BOS != wantBOS || c.EOS != wantEOS {
				t.Errorf("config.json rewritten to %s (%v), want bos %d eos %d", out, err, wantBOS, wantEOS)
			}
			out, _, err = r.RewriteFile("generation_config.json", []byte(`{"bos_token_id": 382, "eos_token_id": [383, 259]}`))
			var gc struct {
				EOS []int `json:"eos_token_id"`
			}
			if err != nil || json.Unmarshal(out, &gc) != nil || len(gc.EOS) != 2 || gc.EOS[0] != wantEOS || b.Piece(gc.EOS[1]) != "<|endoftext|>" {
				t.Errorf("generation_config.json rewritten to %s (%v)", out, err)
			}
			if src.name != "tokenizer.json" {
				if r.Files != nil {
					t.Errorf("a GGUF vocabulary's restriction has files %v", r.Files)
				}
				return
			}
			// tokenizer.json: vocab, added_tokens and the post-processor
			var doc struct {
				Added []struct {
					ID      int    `json:"id"`
					Content string `json:"content"`
				} `json:"added_tokens"`
				Post struct {
					Special map[string]struct {
						IDs []int `json:"ids"`
					} `json:"special_tokens"`
				} `json:"post_processor"`
				Model struct {
					Vocab map[string]int `json:"vocab"`
				} `json:"model"`
			}
			if err := json.Unmarshal(r.Files["tokenizer.json"], &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Model.Vocab["<s>"] != wantBOS || doc.Model.Vocab["</s>"] != wantEOS {
				t.Errorf("tokenizer.json vocab has <s> %d </s> %d, want %d %d", doc.Model.Vocab["<s>"], doc.Model.Vocab["</s>"], wantBOS, wantEOS)
			}
			for _, at := range doc.Added {
				if want := map[string]int{"<s>": wantBOS, "</s>": wantEOS}[at.Content]; want != 0 && at.ID != want {
					t.Errorf("tokenizer.json added token %q has id %d, want %d", at.Content, at.ID, want)
				}
			}
			if ids := doc.Post.Special["<s>"].IDs; len(ids) != 1 || ids[0] != wantBOS {
				t.Errorf("tokenizer.json post_processor <s> ids %v, want [%d]", ids, wantBOS)
			}
			var tc struct {
				Dec map[string]struct {
					Content string `json:"content"`
				} `json:"added_tokens_decoder"`
			}
			if err := json.Unmarshal(r.Files["tokenizer_config.json"], &tc); err != nil {
				t.Fatal(err)
			}
			if tc.Dec[strconv.Itoa(wantBOS)].Content != "<s>" || tc.Dec[strconv.Itoa(wantEOS)].Content != "</s>" || len(tc.Dec) != 4 {
				t.Errorf("tokenizer_config.json added_tokens_decoder %v, want <s> at %d and </s> at %d", tc.Dec, wantBOS, wantEOS)
			}
		})
	}
}
