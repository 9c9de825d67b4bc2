package cli

import (
	"archive/zip"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/core/tokenizer"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// ggufHFTexts are the texts the exported tokenizer is checked on.
var ggufHFTexts = []string{
	"Hello world", "Die Straße ist schön, oder? Äpfel und Öl.", "  leading and trailing  ",
	"你好, мир! 🙂", "<s>not a token</s> <|endoftext|>", "tab\there\nnew line", "",
}

// evalPPL runs cusprun eval on a model and returns its perplexity per slice.
func evalPPL(t *testing.T, path string) map[string]float64 {
	t.Helper()
	res := mustCall(t, "eval", "--model", path, "--language", "de", "--max-docs", "2", "--max-tokens", "48")
	var m struct {
		PPL map[string]struct {
			PPL    float64 `json:"ppl"`
			Tokens int     `json:"tokens"`
		} `json:"ppl"`
	}
	if err := json.Unmarshal(res["model"], &m); err != nil || len(m.PPL) == 0 {
		t.Fatalf("eval %s printed %s", path, res["model"])
	}
	out := map[string]float64{}
	for k, v := range m.PPL {
		if v.Tokens == 0 || math.IsNaN(v.PPL) || math.IsInf(v.PPL, 0) {
			t.Errorf("eval %s slice %s: ppl %v over %d tokens", path, k, v.PPL, v.Tokens)
		}
		out[k] = v.PPL
	}
	return out
}

// TestGGUFSourceExportedAsHF: a GGUF model pruned to an HF folder (and a
// zip) carries its vocabulary as tokenizer.json and tokenizer_config.json;
// the engine's tokenizer loads them and tokenizes as the GGUF vocabulary and
// as the synthetic vocabulary's own tokenizer.json do, and cusprun eval on
// the folder and the zip gives the perplexity of the same expert exported
// as GGUF (same weights, same tokens).
func TestGGUFSourceExportedAsHF(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny", Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.gguf")
	if err := synth.WriteGGUF(src, c, 11, tensor.F32); err != nil {
		t.Fatal(err)
	}
	hfSrc := filepath.Join(dir, "src-hf") // the same vocabulary, as synth writes tokenizer.json itself
	if err := synth.WriteHF(hfSrc, c, 11, tensor.F32, ""); err != nil {
		t.Fatal(err)
	}
	args := []string{"prune", "--model", src, "--language", "de", "--ratio", "0.3", "--eval=false", "--max-docs", "4", "--max-tokens", "32"}
	out := filepath.Join(dir, "expert")
	mustCall(t, append(args, "--format", "hf", "--out", out)...)
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(out, n)); err != nil {
			t.Errorf("the HF export of a GGUF source has no %s: %v", n, err)
		}
	}
	ggufTok, err := tokenizer.LoadPath(src)
	if err != nil {
		t.Fatal(err)
	}
	hfTok, err := tokenizer.LoadPath(hfSrc)
	if err != nil {
		t.Fatal(err)
	}
	expTok, err := tokenizer.LoadPath(out)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(expTok.Name()) != "tokenizer.json" || !expTok.AddsBOS() || expTok.BOS() != ggufTok.BOS() || expTok.EOS() != ggufTok.EOS() {
		t.Errorf("expert tokenizer %s: adds BOS %v, BOS %d EOS %d; GGUF %d %d", expTok.Name(), expTok.AddsBOS(), expTok.BOS(), expTok.EOS(), ggufTok.BOS(), ggufTok.EOS())
	}
	for _, s := range ggufHFTexts {
		for _, sp := range []bool{false, true} {
			o := tokenizer.EncodeOptions{AddBOS: true, ParseSpecial: sp}
			got, want, ref := expTok.Encode(s, o), ggufTok.Encode(s, o), hfTok.Encode(s, o)
			if !equalIDs(got, want) || !equalIDs(got, ref) {
				t.Errorf("%q special %v: exported %v, GGUF %v, synth tokenizer.json %v", s, sp, got, want, ref)
			}
			if expTok.Decode(got) != ggufTok.Decode(want) {
				t.Errorf("%q: decodes to %q, GGUF %q", s, expTok.Decode(got), ggufTok.Decode(want))
			}
		}
	}

	zipOut := filepath.Join(dir, "expert.zip")
	mustCall(t, append(args, "--format", "zip", "--out", zipOut)...)
	zr, err := zip.OpenReader(zipOut)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[filepath.Base(f.Name)] = true
	}
	zr.Close()
	if !names["tokenizer.json"] || !names["tokenizer_config.json"] {
		t.Errorf("the zip export of a GGUF source holds %v: no tokenizer.json / tokenizer_config.json", names)
	}

	ggufOut := filepath.Join(dir, "expert.gguf")
	mustCall(t, append(args, "--format", "gguf", "--out", ggufOut)...)
	want := evalPPL(t, ggufOut)
	for _, p := range []string{out, zipOut} {
		got := evalPPL(t, p)
		for k, w := range want {
			if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-4*w {
				t.Errorf("eval %s slice %s: ppl %v, the GGUF export %v", filepath.Base(p), k, g, w)
			}
		}
		t.Logf("eval %s: %v (GGUF export %v)", filepath.Base(p), got, want)
	}
}

// TestGGUFSourceVocabTargetAsHF: with --vocab target the HF export of a
// GGUF source holds the restricted vocabulary's tokenizer.json, whose ids
// are the source's mapped ones and whose model gives the source's
// distribution over the kept tokens.
func TestGGUFSourceVocabTargetAsHF(t *testing.T) {
	calib := filepath.Join(llamaref.SharedDir(), "corpora/calib/lang-de.jsonl")
	if _, err := os.Stat(calib); err != nil {
		llamaref.Missing(t, err)
	}
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny", Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.gguf")
	if err := synth.WriteGGUF(src, c, 12, tensor.F32); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "de")
	mustCall(t, "prune", "--model", src, "--language", "de", "--builtin=false", "--corpus", calib, "--ratio", "0",
		"--vocab", "target", "--format", "hf", "--out", out, "--eval=false", "--max-docs", "4", "--max-tokens", "32")
	if _, err := os.Stat(filepath.Join(out, "tokenizer.json")); err != nil {
		t.Fatalf("no tokenizer.json: %v", err)
	}
	vc := openVocabCase(t, src, out, corpus.Target{Language: "de"}, []string{calib})
	if filepath.Base(vc.expTok.Name()) != "tokenizer.json" || vc.expTok.VocabSize() >= vc.oldTok.VocabSize() {
		t.Errorf("expert tokenizer %s with %d tokens (source %d)", vc.expTok.Name(), vc.expTok.VocabSize(), vc.oldTok.VocabSize())
	}
	texts := devTexts(t, 2, "de")
	a, r, b, n := vc.check(t, texts, 48)
	t.Logf("vocab %d -> %d; %d tokens: ppl %.4f, over the kept tokens %.4f, expert %.4f", vc.old.Config.Vocab, vc.exp.Config.Vocab, n, math.Exp(a), math.Exp(r), math.Exp(b))
	if n == 0 || math.Abs(b-r) > 1e-3 {
		t.Errorf("expert NLL %.6f, the source's over the kept tokens %.6f (%d tokens)", b, r, n)
	}
}
