package prune

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/safetensors"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
)

// TestTensorBytesIsWhatExportWrites: the size a preview gives for an
// expert's tensors equals the sizes of the tensors the export then writes,
// read back from the file's own header, for GGUF (kept types and a K-quant
// mix) and safetensors (kept and widened).
func TestTensorBytesIsWhatExportWrites(t *testing.T) {
	m, folder, _ := synthModel(t, synth.Options{Family: "llama", Shape: "tiny", Layers: 2}, "hf")
	r := rand.New(rand.NewPCG(3, 8))
	sc, err := Score(context.Background(), m, model.CPU{}, randomSeqs(r, 4, 24, m.Config.Vocab), nil)
	if err != nil {
		t.Fatal(err)
	}
	scores := sc.Scores("cusprun", 1)
	for _, tc := range []struct{ format, quant string }{
		{"gguf", "keep"}, {"gguf", "q4_k_m"}, {"gguf", "q8_0"}, {"hf", "keep"}, {"hf", "f32"},
	} {
		plan, err := Select(m.Config, scores, "cusprun", 0.3, "uniform", false)
		if err != nil {
			t.Fatal(err)
		}
		if tc.format == "gguf" && QuantizedOutput(tc.quant, m.DType) {
			plan = AlignFFN(plan, scores, QuantBlockRows)
		}
		sl := &Slicer{M: m, Plan: plan, Source: folder}
		want, err := sl.TensorBytes(tc.format, tc.quant)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "expert")
		o := Output{Path: out, Format: tc.format, Name: "test", Files: SmallFiles(folder), Quant: tc.quant}
		if tc.format == "gguf" {
			o.Path = out + ".gguf"
			v, _ := synth.NewVocab(m.Config.Vocab)
			o.VocabMeta = v.GGUF
		}
		if err := Export(sl, o); err != nil {
			t.Fatal(err)
		}
		got := writtenTensorBytes(t, o)
		if got != want || want == 0 {
			t.Errorf("%s %s: TensorBytes says %d, the written file's tensors take %d", tc.format, tc.quant, want, got)
		}
		os.RemoveAll(o.Path)
	}
}

// writtenTensorBytes sums the tensor sizes an output's own header gives:
// the GGUF file's, or the safetensors file's of an HF folder.
func writtenTensorBytes(t *testing.T, o Output) int64 {
	t.Helper()
	path := o.Path
	if o.Format != "gguf" {
		path = filepath.Join(o.Path, "model.safetensors")
	}
	f, err := source.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	if o.Format == "gguf" {
		g, err := gguf.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range g.Tensors {
			n += tn.Size
		}
		return n
	}
	st, err := safetensors.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range st.Tensors {
		n += tn.Bytes()
	}
	return n
}
