package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/core/job"
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

// cliPrune runs `cusprun prune` (the CLI's own verb, flags and all) and
// returns the expert's bytes and the summary it printed.
func cliPrune(t *testing.T, args ...string) ([]byte, job.Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "expert")
	var stdout, stderr bytes.Buffer
	cli.Stdout, cli.Stderr = &stdout, &stderr
	defer func() { cli.Stdout, cli.Stderr = os.Stdout, os.Stderr }()
	if code := cli.Main(append([]string{"prune", "--out", out}, args...)); code != 0 {
		t.Fatalf("cusprun prune %v: exit %d: %s", args, code, stderr.String())
	}
	var res job.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("the CLI's summary: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatal("the CLI wrote an empty expert")
	}
	return b, res
}

// TestSameJobAsCLI: the page's job (this package) writes exactly the file
// `cusprun prune` writes for the same inputs and measures exactly the same
// perplexity before and after; re-opening it verifies and generates.
func TestSameJobAsCLI(t *testing.T) {
	for _, tc := range []struct{ fam, format string }{{"llama", "zip"}, {"qwen2", "zip"}, {"qwen2", "gguf"}} {
		t.Run(tc.fam+"-"+tc.format, func(t *testing.T) {
			dir := synthModel(t, tc.fam)
			folder, err := source.OpenPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			user := []byte(`{"text":"Der Vertrag regelt die Haftung der Parteien und die Fristen der Kündigung.","domain":"law"}` + "\n")
			up := filepath.Join(t.TempDir(), "user.jsonl")
			if err := os.WriteFile(up, user, 0o644); err != nil {
				t.Fatal(err)
			}
			want, cres := cliPrune(t, "--model", dir, "--language", "de", "--ratio", "0.25", "--format", tc.format,
				"--corpus", up, "--max-tokens", "64", "--eval-docs", "3")

			s, desc, err := Open(folder)
			if err != nil {
				t.Fatal(err)
			}
			if desc.Family != tc.fam || desc.Layers == 0 || desc.Params == 0 {
				t.Fatalf("description %+v", desc)
			}
			ctx := context.Background()
			res, err := s.Prune(ctx, Options{Language: "de", Domain: "any", Task: "any", Ratio: 0.25, Format: tc.format, SourceName: filepath.Base(dir), Compensate: true, // the page's default, as the CLI's
				MaxTokens: 64, CorpusData: []UserCorpus{{Name: "user.jsonl", Data: user}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ParamsAfter >= res.ParamsBefore || res.ParamsAfter != cres.ParamsAfter {
				t.Fatalf("params %d -> %d (the CLI: %d)", res.ParamsBefore, res.ParamsAfter, cres.ParamsAfter)
			}
			var buf bytes.Buffer
			if err := s.Export(ctx, &buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("the app's %s (%d bytes) differs from the CLI's (%d bytes)", tc.format, buf.Len(), len(want))
			}
			if err := s.OpenExpert(&source.Bytes{B: buf.Bytes(), Path: "x." + tc.format}); err != nil {
				t.Fatal(err)
			}
			ev, err := s.Evaluate(ctx, 3, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev) != 2 || len(cres.Eval) != 2 {
				t.Fatalf("slices: page %v, CLI %v", ev, cres.Eval)
			}
			for name, e := range ev {
				if c := cres.Eval[name]; e != c || !(e.PPLBefore > 0 && e.PPLAfter > 0) || e.Docs != 3 {
					t.Errorf("%s slice: page %+v, CLI %+v", name, e, c)
				}
			}
			txt, err := s.Generate(ctx, "expert", "Guten Morgen", 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d -> %d params, eval %+v, expert says %q", tc.fam, res.ParamsBefore, res.ParamsAfter, ev, txt)

			// A restarted engine (the page's worker after a cancel) opens the
			// verified expert on its own and generates the same text.
			s2, _, err := Open(folder)
			if err != nil {
				t.Fatal(err)
			}
			if err := s2.UseExpert(&source.Bytes{B: buf.Bytes(), Path: "x." + tc.format}, tc.format == "gguf"); err != nil {
				t.Fatal(err)
			}
			if txt2, err := s2.Generate(ctx, "expert", "Guten Morgen", 5, nil); err != nil || txt2 != txt {
				t.Fatalf("after UseExpert the expert says %q (%v), before %q", txt2, err, txt)
			}
			// Validate states job.Validate's one ratio range.
			if err := s2.Validate(Options{Ratio: 0.95}); err == nil || !strings.Contains(err.Error(), "0 to 0.9") {
				t.Fatalf("Validate(0.95) = %v", err)
			}
			if err := s2.Validate(Options{Ratio: 0.25}); err != nil {
				t.Fatalf("Validate(0.25) = %v", err)
			}
			// Without sizes, Evaluate reads what job.EvalSize allows.
			docs, tokens := res.EvalSize[0], res.EvalSize[1]
			ev2, err := s.Evaluate(ctx, 0, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, e := range ev2 {
				if e.Docs > docs || e.Tokens > docs*tokens {
					t.Errorf("%s slice: %d docs, %d tokens; EvalSize allows %d docs of %d tokens", name, e.Docs, e.Tokens, docs, tokens)
				}
			}

			// Cancelling stops the export.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.Export(cctx, &bytes.Buffer{}); err == nil {
				t.Fatal("a cancelled export succeeded")
			}
		})
	}
}

// TestFileName: the download is named by the target's canonical values,
// also when the page's "another language" box holds a name with spaces or
// signs.
func TestFileName(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Language: "de", Domain: "law", Ratio: 0.25}, "cusprun-expert-de-law-25.zip"},
		{Options{Language: "Italiano", Task: "qa", Ratio: 0.3, Format: "gguf"}, "cusprun-expert-it-qa-30.gguf"},
		{Options{Language: "Bahasa Indonesia", Ratio: 0.2}, "cusprun-expert-id-20.zip"},
		{Options{Language: "de,fr", Domain: "any", Ratio: 0.2}, "cusprun-expert-de-fr-20.zip"},
		{Options{Language: "Klingon (tlh)/../x", Ratio: 0.2}, "cusprun-expert-klingon-tlh-x-20.zip"},
	} {
		if got := FileName(c.o); got != c.want {
			t.Errorf("%+v: %q, want %q", c.o, got, c.want)
		}
	}
}

// TestCorpusInfo: the page's summary of the user's files counts documents
// and tags (by canonical value, "" for untagged) as a prune reads them,
// and a file a prune would refuse carries the prune's error.
func TestCorpusInfo(t *testing.T) {
	got := CorpusInfo([]UserCorpus{
		{Name: "a.jsonl", Data: []byte("{\"text\": \"Hallo\", \"language\": \"German\", \"domain\": \"legal\"}\n{\"text\": \"Welt\", \"language\": \"de\"}\n")},
		{Name: "b.csv", Data: []byte("question,answer\nWarum?,Darum.\n")},
		{Name: "c.csv", Data: []byte("title,body\nx,y\n")},
	})
	if len(got) != 3 || got[0].Docs != 2 || got[0].Tags["language"]["de"] != 2 || got[0].Tags["domain"]["law"] != 1 || got[0].Tags["domain"][""] != 1 {
		t.Fatalf("a.jsonl: %+v", got[0])
	}
	if got[1].Docs != 1 || got[1].Tags["language"][""] != 1 || got[1].Error != "" {
		t.Fatalf("b.csv: %+v", got[1])
	}
	if got[2].Docs != 0 || !strings.Contains(got[2].Error, "c.csv: no column for the text") {
		t.Fatalf("c.csv: %+v", got[2])
	}
}
