package prune

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// lateSpecialsDir writes synth's tokenizer of n tokens with <s> and </s>
// moved from ids 1 and 2 to n-2 and n-1 (the tokens there to 1 and 2)
// into a new folder, so that vocabulary pruning renumbers BOS and EOS.
func lateSpecialsDir(t *testing.T, n int) string {
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
	vocab["<s>"], vocab["</s>"], vocab[v.Tokens[bos]], vocab[v.Tokens[eos]] = bos, eos, 1, 2
	for _, x := range doc["added_tokens"].([]any) {
		at := x.(map[string]any)
		if id, ok := map[any]int{"<s>": bos, "</s>": eos}[at["content"]]; ok {
			at["id"] = id
		}
	}
	doc["post_processor"].(map[string]any)["special_tokens"].(map[string]any)["<s>"].(map[string]any)["ids"] = []int{bos}
	tok, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := map[string]any{}
	for id, s := range map[int]string{0: "<unk>", bos: "<s>", eos: "</s>", 259: "<|endoftext|>"} {
		dec[strconv.Itoa(id)] = map[string]any{"content": s, "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}
	}
	cfg, _ := json.Marshal(map[string]any{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "added_tokens_decoder": dec})
	dir := t.TempDir()
	for name, b := range map[string][]byte{"tokenizer.json": tok, "tokenizer_config.json": cfg} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestVocabPruningRemapsBOSEOS prunes the vocabulary of a model whose BOS
// and EOS come after tokens the target does not need, exports HF and GGUF,
// and checks that every place holding them (the plan's config, config.json,
// generation_config.json, tokenizer_config.json, the GGUF keys and the
// reloaded tokenizers) gives the new ids, and that they name <s> and </s>.
func TestVocabPruningRemapsBOSEOS(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	n := c.Vocab
	c.BOS, c.EOS = n-2, n-1
	src := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(src, c, 5, tensor.BF16, lateSpecialsDir(t, n)); err != nil {
		t.Fatal(err)
	}
	folder, err := source.OpenPath(src)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.BOS != n-2 || tok.BOS() != n-2 || tok.EOS() != n-1 {
		t.Fatalf("source BOS %d/%d EOS %d; the test wants %d, %d", m.Config.BOS, tok.BOS(), tok.EOS(), n-2, n-1)
	}
	r := rand.New(rand.NewPCG(11, 12))
	sc, err := Score(context.Background(), m, model.CPU{}, randomSeqs(r, 3, 16, n), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", 0.2, "uniform", false)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := VocabPlan(plan, tok, []corpus.Doc{{Text: "the der die und"}})
	if err != nil {
		t.Fatal(err)
	}
	// the new ids by hand: how many kept ids lie below the old one
	below := func(old int) int {
		k := 0
		for _, id := range plan.KeepVocab {
			if id < old {
				k++
			}
		}
		return k
	}
	bos, eos := below(n-2), below(n-1)
	if bos >= n-2 || plan.To.Vocab >= n {
		t.Fatalf("vocabulary pruning kept %d of %d tokens, none below BOS removed; the test needs some", plan.To.Vocab, n)
	}
	if plan.To.BOS != bos || plan.To.EOS != eos {
		t.Errorf("the plan's config has BOS %d EOS %d, want %d %d", plan.To.BOS, plan.To.EOS, bos, eos)
	}
	if vr.Tokenizer.BOS() != bos || vr.Tokenizer.EOS() != eos {
		t.Errorf("the restricted tokenizer has BOS %d EOS %d, want %d %d", vr.Tokenizer.BOS(), vr.Tokenizer.EOS(), bos, eos)
	}
	var files []export.File
	for _, f := range SmallFiles(folder) {
		if f.Name != "config.json" {
			files = append(files, f)
		}
	}
	if files, err = VocabFiles(files, vr); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"hf", "gguf"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "expert")
			if format == "gguf" {
				out += ".gguf"
			}
			sl := &Slicer{M: m, Plan: plan, Source: folder}
			o := Output{Path: out, Format: format, Name: "test", Files: files, VocabMeta: VocabMeta(vr, plan.To.Vocab)}
			if err := Export(sl, o); err != nil {
				t.Fatal(err)
			}
			if err := Verify(out, sl); err != nil {
				t.Fatal(err)
			}
			pm, err := model.OpenPath(out)
			if err != nil {
				t.Fatal(err)
			}
			if pm.Config.BOS != bos || pm.Config.EOS != eos || pm.Config.Vocab != plan.To.Vocab {
				t.Errorf("the expert's config has BOS %d EOS %d vocab %d, want %d %d %d", pm.Config.BOS, pm.Config.EOS, pm.Config.Vocab, bos, eos, plan.To.Vocab)
			}
			of, err := source.OpenPath(out)
			if err != nil {
				t.Fatal(err)
			}
			ot, err := tokenizer.Load(of)
			if err != nil {
				t.Fatal(err)
			}
			if ot.BOS() != bos || ot.EOS() != eos || ot.Piece(bos) != "<s>" || ot.Piece(eos) != "</s>" {
				t.Errorf("the expert's tokenizer has BOS %d (%q) EOS %d (%q), want %d <s> and %d </s>", ot.BOS(), ot.Piece(ot.BOS()), ot.EOS(), ot.Piece(ot.EOS()), bos, eos)
			}
			if g := pm.GGUF(); g != nil {
				toks, _ := g.Strings("tokenizer.ggml.tokens")
				for key, want := range map[string]int{"tokenizer.ggml.bos_token_id": bos, "tokenizer.ggml.eos_token_id": eos} {
					id, ok := g.Uint(key)
					if !ok || int(id) != want || toks[id] != map[int]string{bos: "<s>", eos: "</s>"}[want] {
						t.Errorf("GGUF %s = %d (ok %v), want %d", key, id, ok, want)
					}
				}
				return
			}
			for _, name := range []string{"config.json", "generation_config.json"} {
				b, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				var ids struct {
					BOS int `json:"bos_token_id"`
					EOS int `json:"eos_token_id"`
				}
				if err := json.Unmarshal(b, &ids); err != nil || ids.BOS != bos || ids.EOS != eos {
					t.Errorf("%s has bos_token_id %d eos_token_id %d (%v), want %d %d", name, ids.BOS, ids.EOS, err, bos, eos)
				}
			}
			b, err := os.ReadFile(filepath.Join(out, "tokenizer_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var tc struct {
				Dec map[string]struct {
					Content string `json:"content"`
				} `json:"added_tokens_decoder"`
			}
			if err := json.Unmarshal(b, &tc); err != nil {
				t.Fatal(err)
			}
			if tc.Dec[strconv.Itoa(bos)].Content != "<s>" || tc.Dec[strconv.Itoa(eos)].Content != "</s>" {
				t.Errorf("tokenizer_config.json added_tokens_decoder %v, want <s> at %d, </s> at %d", tc.Dec, bos, eos)
			}
		})
	}
}
