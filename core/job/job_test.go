package job

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

func doc(lang, dom string, i int) corpus.Doc {
	return corpus.Doc{Text: lang + dom + string(rune('a'+i)), Language: lang, Domain: dom}
}

// TestCap: a capped slice takes documents in turn from every language and
// domain group, in the order the groups first appear.
func TestCap(t *testing.T) {
	var docs []corpus.Doc
	for i := 0; i < 3; i++ {
		docs = append(docs, doc("ar", "law", i))
	}
	for i := 0; i < 3; i++ {
		docs = append(docs, doc("de", "law", i))
	}
	docs = append(docs, doc("de", "code", 0), doc("zh", "law", 0))
	// Turns over the groups, languages interleaved: ar law, de law, zh law,
	// then de code (de's second group), then ar law again.
	got := Cap(docs, 5)
	want := []string{"arlawa", "delawa", "zhlawa", "decodea", "arlawb"}
	if len(got) != len(want) {
		t.Fatalf("Cap kept %d docs, want %d", len(got), len(want))
	}
	for i, d := range got {
		if d.Text != want[i] {
			t.Errorf("doc %d = %q, want %q", i, d.Text, want[i])
		}
	}
	// Three languages of three domains each: three documents are one per
	// language, six are two domains of each.
	var wide []corpus.Doc
	for _, l := range []string{"ar", "de", "zh"} {
		for _, dom := range []string{"law", "code", "medicine"} {
			wide = append(wide, doc(l, dom, 0))
		}
	}
	for n, want := range map[int]string{3: "arlawa,delawa,zhlawa", 6: "arlawa,delawa,zhlawa,arcodea,decodea,zhcodea"} {
		var texts []string
		for _, d := range Cap(wide, n) {
			texts = append(texts, d.Text)
		}
		if strings.Join(texts, ",") != want {
			t.Errorf("Cap(%d) of three languages by three domains: %v, want %s", n, texts, want)
		}
	}
	// A German legal target's union: German documents of six domains and
	// the legal ones of three other languages. Every group gets its turn,
	// so nine documents are one per group: six German.
	var union []corpus.Doc
	for _, dom := range []string{"law", "code", "medicine", "finance", "science", "general"} {
		union = append(union, doc("de", dom, 0), doc("de", dom, 1))
	}
	for _, l := range []string{"en", "fr", "zh"} {
		union = append(union, doc(l, "law", 0), doc(l, "law", 1))
	}
	perLang := map[string]int{}
	for _, d := range Cap(union, 9) {
		perLang[d.Language]++
	}
	if perLang["de"] != 6 || perLang["en"] != 1 || perLang["fr"] != 1 || perLang["zh"] != 1 {
		t.Errorf("Cap(9) of the de+law union: %v, want one document per group (de 6, en 1, fr 1, zh 1)", perLang)
	}
	if n := len(Cap(docs, 0)); n != len(docs) {
		t.Errorf("Cap(0) kept %d of %d", n, len(docs))
	}
	if n := len(Cap(docs, 100)); n != len(docs) {
		t.Errorf("Cap(100) kept %d of %d", n, len(docs))
	}
}

// TestValidate: every bad option is refused with a message naming it, and
// the defaults pass.
func TestValidate(t *testing.T) {
	llama := &model.Config{Family: "llama"}
	qwen := &model.Config{Family: "qwen2"}
	for _, tc := range []struct {
		o    Options
		c    *model.Config
		want string
	}{
		{Options{Ratio: -0.1}, nil, "ratio"},
		{Options{Ratio: 0.95}, nil, "ratio"},
		{Options{Ratio: 0.2, Method: "best"}, nil, "method"},
		{Options{Ratio: 0.2, Format: "onnx"}, nil, "format"},
		{Options{Ratio: 0.2, Placement: "random"}, nil, "placement"},
		{Options{Ratio: 0.2, Vocab: "all"}, nil, "vocab"},
		{Options{Ratio: 0.2, Placement: "adaptive"}, llama, "only GGUF"},
		{Options{Ratio: 0.2, Placement: "adaptive", Format: "gguf"}, qwen, "llama-family"},
		{Options{Ratio: 0.2, Reselect: 0.5}, nil, "reselect"},
		{Options{Ratio: 0.2, Reselect: 4.5}, nil, "reselect"},
		{Options{Ratio: 0.2, Reselect: math.NaN()}, nil, "reselect"},
		{Options{Ratio: 0.2, MaxTokens: -5}, nil, "max tokens -5"},
		{Options{Ratio: 0.2, MaxTokens: 1}, nil, "max tokens 1"},
		{Options{Ratio: 0.2, EvalTokens: -1}, nil, "eval tokens -1"},
	} {
		o := tc.o
		o.Defaults()
		err := o.Validate(tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.o, err, tc.want)
		}
	}
	o := Options{Ratio: 0.2, Placement: "adaptive", Format: "gguf"}
	o.Defaults()
	if err := o.Validate(llama); err != nil {
		t.Errorf("adaptive llama GGUF: %v", err)
	}
	// A ratio the model's shape cannot meet with uniform placement fails
	// here, before scoring, and one it can meet passes.
	tiny, err := synth.Config(synth.Options{Family: "phi3", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ratio float64
		ok    bool
	}{{0.9, false}, {0.5, true}} {
		o := Options{Ratio: tc.ratio}
		o.Defaults()
		err := o.Validate(tiny)
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "cannot be met")) {
			t.Errorf("ratio %v on a tiny phi3: %v", tc.ratio, err)
		}
	}
	// Phi as GGUF keeps every attention group (llama.cpp's phi2 graph), so
	// FFN neurons alone must meet the ratio there, as in the job's Select:
	// a ratio only attention groups make reachable passes for hf, not gguf.
	phi, err := synth.Config(synth.Options{Family: "phi", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	between := -1.0
	for i := 0; i <= 180 && between < 0; i++ {
		r := float64(i) / 200
		if prune.CheckUniform(phi, r, false) == nil && prune.CheckUniform(phi, r, true) != nil {
			between = r
		}
	}
	if between < 0 {
		t.Fatal("no ratio a tiny phi meets with attention groups but not without")
	}
	for _, format := range []string{"hf", "gguf"} {
		o := Options{Ratio: between, Format: format}
		o.Defaults()
		err := o.Validate(phi)
		if (format == "gguf") != (err != nil) || (err != nil && !strings.Contains(err.Error(), "keeps every attention group")) {
			t.Errorf("ratio %v on a tiny phi as %s: %v", between, format, err)
		}
	}
	for _, pool := range []float64{0, 1, 1.25, 4} {
		o := Options{Ratio: 0.2, Reselect: pool}
		o.Defaults()
		if err := o.Validate(llama); err != nil {
			t.Errorf("reselect %v: %v", pool, err)
		}
	}
}

// TestRunCancelledLeavesNothing: a job cancelled before it ends writes
// nothing at the output path and leaves no staging beside it.
func TestRunCancelledLeavesNothing(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	folder := synthFolder(t, c)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "expert")
	for _, phase := range []string{"score", "export", "verify", "evaluate"} {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := Run(ctx, folder, model.CPU{}, Options{Language: "de", MaxTokens: 32, EvalDocs: 2}, []Expert{{0.25, out}},
			func(p string, done, total int) {
				if p == phase {
					cancel()
				}
			})
		cancel()
		if err == nil {
			t.Fatalf("cancelled in %s: the job succeeded", phase)
		}
		left, _ := os.ReadDir(outDir)
		if len(left) != 0 {
			t.Fatalf("cancelled in %s: %d entries left beside the output (%s)", phase, len(left), left[0].Name())
		}
	}
}

// TestRunCutsDocumentsToTheWindow: a phi3 source with a sliding window
// shorter than --max-tokens prunes with every calibration and held-out
// document cut to the window (where whole-document attention is what the
// source computes); before, the forward refused the longer documents.
func TestRunCutsDocumentsToTheWindow(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "phi3", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	c.Window = 12
	out := filepath.Join(t.TempDir(), "expert")
	if _, err := Run(context.Background(), synthFolder(t, c), model.CPU{}, Options{Language: "de", MaxTokens: 32, EvalDocs: 2}, []Expert{{0.25, out}}, nil); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Window != 12 {
		t.Fatalf("the expert's sliding window is %d, want the source's 12", m.Config.Window)
	}
}

// synthFolder writes c as a bf16 Hugging Face folder of random weights and
// opens it.
func synthFolder(t *testing.T, c *model.Config) source.Folder {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 3, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	folder, err := source.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	return folder
}

// TestDenseCacheNamesTheDocuments: the dense model's cached evaluation is
// named by the held-out documents themselves, so other documents under the
// same target (built-in text of another version, another capping rule) or
// another length never read it; the same ones do.
func TestDenseCacheNamesTheDocuments(t *testing.T) {
	hashes := map[string]string{"model.safetensors": "ab", "config.json": "cd"}
	a := []Slice{{"expert", []corpus.Doc{doc("de", "law", 0), doc("de", "law", 1)}}, {"general", []corpus.Doc{doc("en", "code", 0)}}}
	b := []Slice{{"expert", []corpus.Doc{doc("de", "law", 0), doc("de", "law", 2)}}, {"general", []corpus.Doc{doc("en", "code", 0)}}}
	c := []Slice{{"expert", []corpus.Doc{doc("de", "law", 0)}}, {"general", []corpus.Doc{doc("de", "law", 1), doc("en", "code", 0)}}}
	p := denseCachePath("/c", hashes, model.CPU{}, a, 512)
	if q := denseCachePath("/c", map[string]string{"config.json": "cd", "model.safetensors": "ab"}, model.CPU{}, a, 512); q != p {
		t.Errorf("the same documents name two entries: %s, %s", p, q)
	}
	for name, q := range map[string]string{
		"another document":            denseCachePath("/c", hashes, model.CPU{}, b, 512),
		"a document in another slice": denseCachePath("/c", hashes, model.CPU{}, c, 512),
		"another length":              denseCachePath("/c", hashes, model.CPU{}, a, 256),
		"another model":               denseCachePath("/c", map[string]string{"model.safetensors": "ff", "config.json": "cd"}, model.CPU{}, a, 512),
	} {
		if q == p {
			t.Errorf("%s reads the same cached evaluation (%s)", name, p)
		}
	}
}
