package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

func synthModel(t *testing.T, fam string) string {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), fam)
	if err := synth.WriteHF(dir, c, 3, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSameBytesAsCLI: the page's job (this package) writes exactly the file
// `cusprun prune --format zip` writes for the same inputs, and re-opening it
// verifies, evaluates and generates.
func TestSameBytesAsCLI(t *testing.T) {
	for _, fam := range []string{"llama", "qwen2"} {
		t.Run(fam, func(t *testing.T) {
			dir := synthModel(t, fam)
			folder, err := source.OpenPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			user := []byte(`{"text":"Der Vertrag regelt die Haftung der Parteien und die Fristen der Kündigung.","domain":"law"}` + "\n")
			up := filepath.Join(t.TempDir(), "user.jsonl")
			os.WriteFile(up, user, 0o644)
			out := filepath.Join(t.TempDir(), "x.zip")
			req := cli.Request{Target: corpus.Target{Language: "de"}, Builtin: true, Ratio: 0.25, Method: "cusprun",
				Placement: "uniform", Format: "zip", Out: out, Seed: 1, MaxTokens: 512, Corpora: []string{up}}
			if _, err := cli.Prune(context.Background(), folder, model.CPU{}, req, nil); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}

			s, desc, err := Open(folder)
			if err != nil {
				t.Fatal(err)
			}
			if desc.Family != fam || desc.Layers == 0 || desc.Params == 0 {
				t.Fatalf("description %+v", desc)
			}
			ctx := context.Background()
			res, err := s.Prune(ctx, Options{Language: "de", Domain: "any", Task: "any", Ratio: 0.25,
				Corpora: []UserCorpus{{Name: "user.jsonl", Data: user}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ParamsAfter >= res.ParamsBefore {
				t.Fatalf("params %d -> %d", res.ParamsBefore, res.ParamsAfter)
			}
			var buf bytes.Buffer
			if err := s.Export(ctx, &buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("the app's zip (%d bytes) differs from the CLI's (%d bytes)", buf.Len(), len(want))
			}
			if err := s.OpenExpert(&source.Bytes{B: buf.Bytes(), Path: "x.zip"}); err != nil {
				t.Fatal(err)
			}
			ev, err := s.Evaluate(ctx, 4, 64, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ev["expert"].PPLAfter <= 0 || ev["general"].PPLBefore <= 0 {
				t.Fatalf("eval %+v", ev)
			}
			txt, err := s.Generate(ctx, "expert", "Guten Morgen", 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d -> %d params, eval %+v, expert says %q", fam, res.ParamsBefore, res.ParamsAfter, ev, txt)

			// Cancelling stops the export.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.Export(cctx, &bytes.Buffer{}); err == nil {
				t.Fatal("a cancelled export succeeded")
			}
		})
	}
}

// TestGGUFSameBytesAsCLI: a GGUF from an HF folder, as the page writes it,
// is the CLI's file.
func TestGGUFSameBytesAsCLI(t *testing.T) {
	dir := synthModel(t, "qwen2")
	folder, err := source.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.gguf")
	req := cli.Request{Target: corpus.Target{Language: "de", Domain: "law"}, Builtin: true, Ratio: 0.3, Method: "cusprun",
		Placement: "uniform", Format: "gguf", Out: out, Seed: 1, MaxTokens: 128}
	if _, err := cli.Prune(context.Background(), folder, model.CPU{}, req, nil); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(context.Background(), Options{Language: "de", Domain: "law", Task: "any", Ratio: 0.3, Format: "gguf", MaxTokens: 128}, nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("the app's GGUF (%d bytes) differs from the CLI's (%d bytes)", buf.Len(), len(want))
	}
	if err := s.OpenExpert(&source.Bytes{B: buf.Bytes(), Path: "x.gguf"}); err != nil {
		t.Fatal(err)
	}
}
