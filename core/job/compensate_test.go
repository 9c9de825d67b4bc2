package job

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestRunCompensate: with Compensate a job writes refitted down_proj and
// o_proj (a different file, same shapes, and the pass is timed in the
// result), and without it the same bytes as a job that never heard of
// compensation; both re-open.
func TestRunCompensate(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 3, tensor.F32, ""); err != nil {
		t.Fatal(err)
	}
	folder, err := source.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	outs := t.TempDir()
	var files [3][]byte
	for i, comp := range []bool{false, true, false} {
		out := filepath.Join(outs, []string{"plain", "comp", "plain2"}[i]+".gguf")
		o := Options{Language: "de", MaxTokens: 48, NoEval: true, Format: "gguf", Compensate: comp}
		res, err := Run(context.Background(), folder, model.CPU{}, o, []Expert{{0.3, out}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, timed := res[0].Seconds["compensate"]; timed != comp {
			t.Errorf("compensate %v: result timing of the pass present = %v", comp, timed)
		}
		if files[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
		m, err := model.OpenPath(out)
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.FFN >= c.FFN {
			t.Errorf("compensate %v: FFN %d not pruned from %d", comp, m.Config.FFN, c.FFN)
		}
	}
	if !bytes.Equal(files[0], files[2]) {
		t.Error("two uncompensated jobs wrote different files")
	}
	if len(files[0]) != len(files[1]) {
		t.Errorf("the compensated expert has %d bytes, the plain one %d: shapes should not change", len(files[1]), len(files[0]))
	}
	if bytes.Equal(files[0], files[1]) {
		t.Error("the compensated expert is byte for byte the plain one")
	}
}

// On the CPU engine a job that will compensate keeps the Gram matrices in
// its scoring pass (one pass, scores unchanged) and the refit reads them;
// a job that will not scores as before, to the same scores byte for byte
// (prune.TestScoreWithGramsIsScoreThenCompensate checks that the refit
// from the kept matrices is the second pass's).
func TestCompensateTakesTheOnePassRoute(t *testing.T) {
	folder, m, tok := openSynth(t)
	o := Options{Language: "de", MaxTokens: 48, NoEval: true, Format: "gguf", Compensate: true}
	with, err := Score(context.Background(), folder, m, tok, model.CPU{}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Compensate = false
	without, err := Score(context.Background(), folder, m, tok, model.CPU{}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if with.grams == nil || without.grams != nil {
		t.Fatalf("Gram matrices kept: %v with compensation, %v without", with.grams != nil, without.grams != nil)
	}
	var a, b bytes.Buffer
	if err := with.Scorer.Save(&a); err != nil {
		t.Fatal(err)
	}
	if err := without.Scorer.Save(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("scoring with the Gram matrices changed the scores")
	}
}

// Without temporary files (the browser) a small model's Gram matrices stay
// in memory: still one pass, and the expert is the one the temporary-file
// route writes, byte for byte.
func TestOnePassWithoutTemporaryFiles(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "qwen2", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 5, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	folder, err := source.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, tok, err := Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Language: "de", MaxTokens: 48, NoEval: true, Format: "zip", Compensate: true}
	outs := t.TempDir()
	var files [2][]byte
	for i, tmp := range []string{os.TempDir(), filepath.Join(outs, "no such folder")} {
		t.Setenv("TMPDIR", tmp)
		s, err := Score(context.Background(), folder, m, tok, model.CPU{}, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.grams == nil {
			t.Fatalf("TMPDIR %s: no Gram matrices kept", tmp)
		}
		out := filepath.Join(outs, []string{"file", "memory"}[i]+".zip")
		if _, err := RunOpened(context.Background(), folder, m, tok, model.CPU{}, o, []Expert{{0.3, out}}, nil); err != nil {
			t.Fatal(err)
		}
		if files[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("the expert refitted from matrices in memory differs from the temporary file's")
	}
	if ents, _ := os.ReadDir(outs); len(ents) != 2 {
		t.Errorf("%d entries beside the experts, want just the two", len(ents))
	}
}
