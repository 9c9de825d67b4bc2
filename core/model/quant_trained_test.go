package model_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
	"github.com/cusprun/cusprun/tools/llamaref"
)

// TestQuantizedTrainedAgreesWithLlamaCpp runs the checks of
// TestQuantizedAgainstReferences on the trained tiny-multi model and real
// held-out text, where the next token is seldom a near-tie (a random
// model's distributions are flat): every file type, made by llama.cpp's
// quantizer from an F32 GGUF that cusprun writes. llama.cpp must pick
// cusprun's top-1 token at every position, near-ties within its own
// activation rounding aside (agreeWithLlamaCpp), and the log says at how
// many.
func TestQuantizedTrainedAgreesWithLlamaCpp(t *testing.T) {
	src := filepath.Join(llamaref.SharedDir(), "models/tiny-multi")
	if _, err := os.Stat(filepath.Join(src, "model.safetensors")); err != nil {
		llamaref.Missing(t, err)
	}
	for _, avail := range []func() error{llamaref.QuantizeAvailable, llamaref.DequantizeAvailable, func() error { return llamaref.Available("") }} {
		if err := avail(); err != nil {
			llamaref.Missing(t, err)
		}
	}
	folder, err := source.OpenPath(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f32 := filepath.Join(dir, "tiny-multi-f32.gguf")
	if _, err := job.Run(context.Background(), folder, model.CPU{}, job.Options{Ratio: 0, Format: "gguf", Quant: "f32", NoEval: true},
		[]job.Expert{{Ratio: 0, Out: f32}}, nil); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		t.Fatal(err)
	}
	ids := heldOutIDs(t, tok, 40)
	ff, err := source.OpenPath(f32)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := model.Open(ff)
	if err != nil {
		t.Fatal(err)
	}
	vocab := fm.Config.Vocab
	agree, total := 0, 0
	for _, qc := range quantCases {
		if !qc.k && !qc.pure {
			continue // the mix once is enough
		}
		name := qc.ftype
		if !qc.pure {
			name += "-mix"
		}
		t.Run(name, func(t *testing.T) {
			agree += checkQuantized(t, dir, "trained-"+name, f32, qc, vocab, ids)
			total += len(ids)
		})
	}
	t.Logf("tiny-multi on %d held-out German and English tokens: llama.cpp's top-1 equals cusprun's at %d of %d positions over every file type", len(ids), agree, total)
}

// heldOutIDs is BOS and the first tokens of a German and an English
// held-out document, n in all.
func heldOutIDs(t *testing.T, tok *tokenizer.Tokenizer, n int) []int {
	t.Helper()
	held, err := corpus.Builtin("heldout")
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, lang := range []string{"de", "en"} {
		for _, d := range held {
			if d.Tag("language") == lang {
				text = append(text, d.Text)
				break
			}
		}
	}
	ids := []int{tok.BOS()}
	for _, s := range text {
		e := tok.Encode(s, tokenizer.EncodeOptions{})
		ids = append(ids, e[:min(len(e), n/2)]...)
	}
	if len(ids) < n/2 {
		t.Fatalf("only %d held-out tokens", len(ids))
	}
	return ids
}
