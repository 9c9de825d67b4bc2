package tokenizer

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// hfWriteVocabs are the GGUF vocabularies written as tokenizer.json: those
// whose llama.cpp vectors must pass, and the other ones FromGGUF reads (SPM:
// baichuan; byte-level with llama.cpp's "default", GPT-2 and starcoder
// splits).
var hfWriteVocabs = append(append([]string(nil), llamaVocabs...), "aquila", "baichuan", "command-r", "gpt-neox", "mpt", "refact", "starcoder")

// hfWriteInputs are the texts a written tokenizer.json is checked on:
// llama.cpp's own test inputs for the vocabulary, the multilingual strings
// and llama-bpe's inputs (hfInputs), and text around the vocabulary's
// special and user-defined tokens.
func hfWriteInputs(t *testing.T, deps, name string, tk *Tokenizer) []string {
	base := filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-"+name+".gguf")
	var vs []vector
	if _, err := os.Stat(base + ".inp"); err == nil {
		if vs, err = readVectors(base); err != nil {
			t.Fatal(err)
		}
	}
	var in []string
	for _, v := range vs {
		in = append(in, v.text)
	}
	in = append(in, hfInputs(t, deps)...)
	return append(in, specialInputs(tk)...)
}

// writtenHF writes the GGUF tokenizer's tokenizer.json and
// tokenizer_config.json and loads them back with the tokenizer.json loader.
func writtenHF(t *testing.T, tk *Tokenizer) (*Tokenizer, []byte, []byte) {
	tj, cfg, err := tk.WriteHF()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseTokenizerJSON(tj, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return back, tj, cfg
}

// TestWriteHFRoundTrip writes every GGUF vocabulary of llama.cpp's test set
// that FromGGUF reads as tokenizer.json and checks its configuration and
// added tokens, and that the loaded tokenizer.json encodes as the
// GGUF vocabulary does (which TestLlamaCppVectors and
// TestSpecialTokensVsLlamaCpp hold to llama.cpp), with and without parsing
// specials and with the BOS the configuration asks for, and decodes alike.
func TestWriteHFRoundTrip(t *testing.T) {
	deps := depsDir(t, "llama.cpp/models/ggml-vocab-llama-spm.gguf")
	for _, name := range hfWriteVocabs {
		t.Run(name, func(t *testing.T) {
			tk, err := LoadPath(filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-"+name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			back, tj, cfg := writtenHF(t, tk)
			checkHFConfig(t, name, tk, tj, cfg)
			if back.VocabSize() != tk.VocabSize() || back.BOS() != tk.BOS() || back.EOS() != tk.EOS() ||
				back.Unk() != tk.Unk() || back.Pad() != tk.Pad() || back.AddsBOS() != tk.AddsBOS() {
				t.Errorf("vocab %d bos %d eos %d unk %d pad %d addBOS %v; GGUF %d %d %d %d %d %v", back.VocabSize(), back.BOS(), back.EOS(),
					back.Unk(), back.Pad(), back.AddsBOS(), tk.VocabSize(), tk.BOS(), tk.EOS(), tk.Unk(), tk.Pad(), tk.AddsBOS())
			}
			for id := 0; id < tk.VocabSize(); id++ {
				if back.IsSpecial(id) != tk.IsSpecial(id) {
					t.Errorf("token %d %q: special %v, GGUF %v", id, tk.Piece(id), back.IsSpecial(id), tk.IsSpecial(id))
				}
			}
			in := hfWriteInputs(t, deps, name, tk)
			for _, o := range []EncodeOptions{{}, {ParseSpecial: true}, {ParseSpecial: true, AddBOS: tk.AddsBOS()}} {
				same, dec := 0, 0
				for _, s := range in {
					want := tk.Encode(s, o)
					got := back.Encode(s, o)
					if !equalInts(got, want) {
						t.Errorf("%+v %q:\n json %v\n gguf %v", o, s, got, want)
						continue
					}
					same++
					if d, w := back.Decode(got), tk.Decode(want); d != w {
						t.Errorf("%+v decode %q:\n json %q\n gguf %q", o, s, d, w)
						continue
					}
					dec++
				}
				t.Logf("%s %+v: ids %d/%d, decode %d/%d", name, o, same, len(in), dec, len(in))
			}
		})
	}
}

// checkHFConfig checks tokenizer_config.json and the added tokens against
// the GGUF vocabulary they come from.
func checkHFConfig(t *testing.T, name string, tk *Tokenizer, tj, cfg []byte) {
	t.Helper()
	var c struct {
		AddBOS  bool    `json:"add_bos_token"`
		BOS     *string `json:"bos_token"`
		EOS     *string `json:"eos_token"`
		Unk     *string `json:"unk_token"`
		Decoder map[string]struct {
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens_decoder"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	text := func(id int) *string {
		if id < 0 {
			return nil
		}
		s := tk.Piece(id)
		return &s
	}
	eq := func(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	if c.AddBOS != tk.AddsBOS() || !eq(c.BOS, text(tk.BOS())) || !eq(c.EOS, text(tk.EOS())) || !eq(c.Unk, text(tk.Unk())) {
		t.Errorf("config %s", cfg[:min(len(cfg), 300)])
	}
	var f struct {
		Added []hfAdded `json:"added_tokens"`
	}
	if err := json.Unmarshal(tj, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Added) != len(c.Decoder) {
		t.Errorf("%d added tokens, %d in added_tokens_decoder", len(f.Added), len(c.Decoder))
	}
	special := 0
	added := map[int]hfAdded{}
	for _, a := range f.Added {
		// types as the GGUF file has them (after llama.cpp's overrides)
		if a.Special != tk.IsSpecial(a.ID) || a.Content != tk.Piece(a.ID) {
			t.Errorf("added %d %q special %v; GGUF %q special %v", a.ID, a.Content, a.Special, tk.Piece(a.ID), tk.IsSpecial(a.ID))
		}
		if a.Special {
			special++
		}
		added[a.ID] = a
	}
	// and by the raw GGUF token type, for the tokens llama.cpp does not
	// retype by their text: control and unknown are special added tokens,
	// user-defined ones non-special added tokens, the others not added.
	retyped := map[string]bool{"<|channel|>": true, "<|message|>": true, "<|start|>": true, "<|constrain|>": true}
	for _, s := range eogTexts {
		retyped[s] = true
	}
	for _, k := range fimKinds {
		for _, s := range k.texts {
			retyped[s] = true
		}
	}
	for id, ty := range tk.gguf.types {
		p := tk.Piece(id)
		if retyped[p] || p == "" {
			continue
		}
		if first, _ := tk.ID(p); first != id {
			continue
		}
		a, ok := added[id]
		switch ty {
		case ggufControl, ggufUnknown:
			if !ok || !a.Special {
				t.Errorf("token %d %q of GGUF type %d: added %v special %v", id, p, ty, ok, a.Special)
			}
		case ggufUserDefined:
			if !ok || a.Special {
				t.Errorf("token %d %q of GGUF type %d: added %v special %v", id, p, ty, ok, a.Special)
			}
		default:
			if ok {
				t.Errorf("token %d %q of GGUF type %d is an added token", id, p, ty)
			}
		}
	}
	t.Logf("%s: %d added tokens (%d special), %d bytes tokenizer.json", name, len(f.Added), special, len(tj))
}

// TestWriteHFvsHuggingFace runs the written tokenizer.json through Hugging
// Face's tokenizers and compares with the GGUF vocabulary's ids, and, where
// no BOS is asked for, with llama.cpp's own tokenization of the GGUF file
// (the five vocabularies of llamaVocabs; hfWriteVocabs' others agree too,
// at about 15 s each).
func TestWriteHFvsHuggingFace(t *testing.T) {
	deps := depsDir(t, "node_modules/tokenizers/package.json", "llama.cpp/models/ggml-vocab-llama-spm.gguf")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	if err := llamaref.Available(deps); err != nil {
		llamaref.Missing(t, err)
	}
	for _, name := range llamaVocabs {
		t.Run(name, func(t *testing.T) {
			gpath := filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-"+name+".gguf")
			tk, err := LoadPath(gpath)
			if err != nil {
				t.Fatal(err)
			}
			_, tj, _ := writtenHF(t, tk)
			path := filepath.Join(t.TempDir(), "tokenizer.json")
			if err := os.WriteFile(path, tj, 0o644); err != nil {
				t.Fatal(err)
			}
			in := hfWriteInputs(t, deps, name, tk)
			modes := []struct {
				opts  EncodeOptions
				flags []string
			}{
				{EncodeOptions{}, nil},
				{EncodeOptions{ParseSpecial: true}, []string{"--special"}},
				{EncodeOptions{ParseSpecial: true, AddBOS: tk.AddsBOS()}, []string{"--special", "--add-special"}},
			}
			for _, m := range modes {
				ref := hfEncode(t, deps, path, in, m.flags...)
				var llama [][]int
				if !m.opts.AddBOS {
					if llama, err = llamaref.TokenizeSpecial(gpath, in, m.opts.ParseSpecial); err != nil {
						t.Fatal(err)
					}
				}
				same, dec, asLlama := 0, 0, 0
				for i, s := range in {
					want := tk.Encode(s, m.opts)
					if llama != nil {
						if !equalInts(ref[i].IDs, llama[i]) {
							t.Errorf("%+v %q:\n HF        %v\n llama.cpp %v", m.opts, s, ref[i].IDs, llama[i])
						} else {
							asLlama++
						}
					}
					if !equalInts(ref[i].IDs, want) {
						t.Errorf("%+v %q:\n HF   %v\n gguf %v", m.opts, s, ref[i].IDs, want)
						continue
					}
					same++
					if d := tk.Decode(want); d != ref[i].Decoded {
						t.Errorf("%+v decode %q:\n HF   %q\n gguf %q", m.opts, s, ref[i].Decoded, d)
						continue
					}
					dec++
				}
				t.Logf("HF %s %+v: ids %d/%d as the GGUF tokenizer (%d/%d as llama.cpp, where compared), decode %d/%d", name, m.opts, same, len(in), asLlama, len(llama), dec, len(in))
			}
		})
	}
}

// overMeta is GGUF metadata with some keys replaced.
type overMeta struct {
	GGUFMeta
	over mapMeta
}

func (m overMeta) String(k string) (string, bool) {
	if _, ok := m.over[k]; ok {
		return m.over.String(k)
	}
	return m.GGUFMeta.String(k)
}

func (m overMeta) Bool(k string) (bool, bool) {
	if _, ok := m.over[k]; ok {
		return m.over.Bool(k)
	}
	return m.GGUFMeta.Bool(k)
}

// TestWriteHFTemplateAndEOS: the GGUF's chat template goes to
// tokenizer_config.json as it is, and add_eos_token / add_bos_token to the
// configuration and to the post-processor Hugging Face runs (checked with
// its tokenizers: BOS and EOS around the text, or neither).
func TestWriteHFTemplateAndEOS(t *testing.T) {
	deps := depsDir(t, "node_modules/tokenizers/package.json", "llama.cpp/models/ggml-vocab-llama-spm.gguf")
	src, err := source.OpenFile(filepath.Join(deps, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	g, err := gguf.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	const tmpl = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
	for _, c := range []struct{ bos, eos bool }{{true, true}, {false, false}, {false, true}} {
		tk, err := FromGGUF(overMeta{g, mapMeta{"tokenizer.chat_template": tmpl, "tokenizer.ggml.add_bos_token": c.bos, "tokenizer.ggml.add_eos_token": c.eos}})
		if err != nil {
			t.Fatal(err)
		}
		tj, cfg, err := tk.WriteHF()
		if err != nil {
			t.Fatal(err)
		}
		var conf struct {
			Template string `json:"chat_template"`
			AddBOS   bool   `json:"add_bos_token"`
			AddEOS   bool   `json:"add_eos_token"`
		}
		if err := json.Unmarshal(cfg, &conf); err != nil {
			t.Fatal(err)
		}
		if conf.Template != tmpl || conf.AddBOS != c.bos || conf.AddEOS != c.eos {
			t.Errorf("bos %v eos %v: config %+v", c.bos, c.eos, conf)
		}
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := os.WriteFile(path, tj, 0o644); err != nil {
			t.Fatal(err)
		}
		text := "Hello world"
		plain := tk.Encode(text, EncodeOptions{})
		want := append([]int(nil), plain...)
		if c.bos {
			want = append([]int{tk.BOS()}, want...)
		}
		if c.eos {
			want = append(want, tk.EOS())
		}
		ref := hfEncode(t, deps, path, []string{text}, "--special", "--add-special")
		if !equalInts(ref[0].IDs, want) {
			t.Errorf("bos %v eos %v: HF adds %v, want %v", c.bos, c.eos, ref[0].IDs, want)
		}
	}
}
