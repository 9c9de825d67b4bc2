package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
)

// TestHeldOutForOwnTargets: a target the built-in held-out text has
// nothing for is refused by eval (which would measure nothing of it) and
// noted by prune, whose --eval-data then measures the user's own held-out
// documents as the expert slice.
func TestHeldOutForOwnTargets(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	// Documents in a language with no built-in text, tagged as such.
	write := func(name string, n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "{\"text\": \"Mba'éichapa, kóva peteĩ kuatia %d, ñe'ẽ ambuépe.\", \"language\": \"gn\"}\n", i)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	calib, held := write("calib.jsonl", 4), write("held.jsonl", 3)
	fast := []string{"--max-tokens", "16", "--eval-docs", "2", "--cache", "off", "--ratio", "0.2"}

	// eval: each value of the target must have built-in held-out text, and
	// the target flags do not combine with --data.
	for _, k := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--model", src, "--language", "de,gn"}, `language "gn"`},
		{[]string{"eval", "--model", src, "--language", "gn"}, `language "gn"`},
		{[]string{"eval", "--model", src, "--domain", "astrology"}, `domain "astrology"`},
		{[]string{"eval", "--model", src, "--language", "de", "--data", held}, "--data"},
		{[]string{"prune", "--model", src, "--language", "gn", "--corpus", calib, "--eval-data", held, "--eval=false", "--ratio", "0.2", "--out", filepath.Join(dir, "o1")}, "--eval"},
		{[]string{"prune", "--model", src, "--language", "gn", "--corpus", calib, "--eval-data", filepath.Join(dir, "none.jsonl"), "--ratio", "0.2", "--out", filepath.Join(dir, "o2")}, "--eval-data"},
	} {
		_, errs, code := call(append(k.args, fast[:2]...)...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code == 0 || !strings.Contains(lines[len(lines)-1], k.want) {
			t.Errorf("%v: exit %d, last line %q, want one naming %s", k.args, code, lines[len(lines)-1], k.want)
		}
	}
	for _, o := range []string{"o1", "o2"} {
		if _, err := os.Stat(filepath.Join(dir, o)); !os.IsNotExist(err) {
			t.Errorf("%s was written: %v", o, err)
		}
	}

	type summary struct {
		Retention map[string]float64
		Eval      map[string]struct{ Docs int }
		Notes     []string
	}
	prune := func(out string, extra ...string) summary {
		t.Helper()
		args := append([]string{"prune", "--model", src, "--language", "gn", "--corpus", calib, "--out", filepath.Join(dir, out)}, fast...)
		res := mustCall(t, append(args, extra...)...)
		raw, _ := json.Marshal(res)
		var s summary
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Without held-out text of its own, the expert's retention is missing
	// and the result says why.
	s := prune("e1")
	if _, ok := s.Retention["expert"]; ok || len(s.Notes) != 1 || !strings.Contains(s.Notes[0], `language "gn"`) || !strings.Contains(s.Notes[0], "--eval-data") {
		t.Errorf("without --eval-data: retention %v, notes %q; want no expert slice and a note naming gn and --eval-data", s.Retention, s.Notes)
	}
	// With it, the expert slice is those documents (capped by --eval-docs).
	s = prune("e2", "--eval-data", held)
	if _, ok := s.Retention["expert"]; !ok || s.Eval["expert"].Docs != 2 || len(s.Notes) != 0 {
		t.Errorf("with --eval-data: retention %v, expert docs %d, notes %q; want an expert slice of 2 documents and no note", s.Retention, s.Eval["expert"].Docs, s.Notes)
	}
}

// TestAlignedWidthsNoted: a quantized GGUF rounds the FFN widths to whole
// 32-value blocks; the summary, the report and the plan say so, and say
// nothing for an unquantized one.
func TestAlignedWidthsNoted(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil) // FFN 160: 0.2 asks for a width off the 32 grid
	run := func(args ...string) notedSummary {
		return pruneQuick(t, src, append([]string{"--format", "gguf"}, args...)...)
	}
	q := run("--quant", "q8_0", "--out", filepath.Join(dir, "q.gguf"))
	if len(q.Notes) != 1 || !strings.Contains(q.Notes[0], "32-value blocks") || !strings.Contains(q.Notes[0], fmt.Sprintf("%d per layer, not ", q.Kept.FFN[0])) {
		t.Errorf("q8_0: kept %v, notes %q; want a note on the rounded widths", q.Kept.FFN, q.Notes)
	}
	for _, w := range q.Kept.FFN {
		if w%32 != 0 {
			t.Errorf("q8_0: FFN width %d is not whole blocks", w)
		}
	}
	if f := run("--quant", "f16", "--out", filepath.Join(dir, "f.gguf")); len(f.Notes) != 0 || f.Kept.FFN[0] == q.Kept.FFN[0] {
		t.Errorf("f16: kept %v, notes %q; want the unrounded width and no note", f.Kept.FFN, f.Notes)
	}
	rep, err := os.ReadFile(filepath.Join(dir, "q.report.json"))
	if err != nil || !strings.Contains(string(rep), "32-value blocks") {
		t.Errorf("the report does not carry the note: %v", err)
	}
	var plan struct{ Experts []struct{ Note string } }
	raw, _ := json.Marshal(mustCall(t, "prune", "--model", src, "--max-tokens", "16", "--cache", "off", "--ratio", "0.2", "--format", "gguf", "--quant", "q8_0", "--plan"))
	json.Unmarshal(raw, &plan)
	if len(plan.Experts) != 1 || !strings.Contains(plan.Experts[0].Note, "32-value blocks") {
		t.Errorf("--plan: %s; want the note on the rounded widths", raw)
	}
}

// TestBaseMustBeTheSource: eval --base refuses a model the expert cannot
// have been pruned from (another family, other sizes, narrower layers),
// naming what differs, and accepts the real source.
func TestBaseMustBeTheSource(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"l", "q", "w"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	llama := synthSource(t, filepath.Join(dir, "l"), "llama", "tiny", nil)
	qwen := synthSource(t, filepath.Join(dir, "q"), "qwen2", "tiny", nil)
	wide := synthSource(t, filepath.Join(dir, "w"), "llama", "tiny", func(c *model.Config) { c.FFN *= 2 })
	expert := filepath.Join(dir, "e")
	mustCall(t, "prune", "--model", llama, "--ratio", "0.3", "--max-tokens", "16", "--eval=false", "--cache", "off", "--out", expert)
	for _, k := range []struct {
		model, base, want string
	}{
		{expert, qwen, "a llama model and the base a qwen2 one"},
		{llama, expert, "wider than the base's"},
	} {
		_, errs, code := call("eval", "--model", k.model, "--base", k.base, "--max-docs", "1", "--max-tokens", "16")
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code == 0 || !strings.Contains(lines[len(lines)-1], k.want) {
			t.Errorf("--model %s --base %s: exit %d, last line %q, want one saying %q", filepath.Base(k.model), filepath.Base(k.base), code, lines[len(lines)-1], k.want)
		}
	}
	// The source, and a model wider everywhere (the expert could be its pruning), are accepted.
	for _, base := range []string{llama, wide} {
		if _, errs, code := call("eval", "--model", expert, "--base", base, "--max-docs", "1", "--max-tokens", "16"); code != 0 {
			t.Errorf("--base %s: %s", filepath.Base(filepath.Dir(base)), errs)
		}
	}
}

// TestQuantizedToHFNoted: a Hugging Face expert of a quantized GGUF is
// written in bf16, and the result says so (it can outgrow the source).
func TestQuantizedToHFNoted(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "q.gguf")
	mustCall(t, "synth", "--family", "llama", "--shape", "tiny", "--format", "gguf", "--dtype", "q8_0", "--out", src)
	run := func(args ...string) notedSummary { return pruneQuick(t, src, args...) }
	if s := run("--out", filepath.Join(dir, "hf")); len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "written in bf16") || !strings.Contains(s.Notes[0], "Q8_0") {
		t.Errorf("hf from Q8_0: notes %q; want one saying the expert is bf16", s.Notes)
	}
	if s := run("--out", filepath.Join(dir, "f16"), "--quant", "f16"); len(s.Notes) != 0 {
		t.Errorf("hf --quant f16 (asked for): notes %q; want none", s.Notes)
	}
}

// notedSummary is what the note tests read of prune's summary.
type notedSummary struct {
	Kept  struct{ FFN []int }
	Notes []string
}

// pruneQuick prunes src at 0.2 on short documents, without evaluation or
// cache, with args added, and decodes the summary.
func pruneQuick(t *testing.T, src string, args ...string) notedSummary {
	t.Helper()
	fast := []string{"prune", "--model", src, "--max-tokens", "16", "--eval=false", "--cache", "off", "--ratio", "0.2"}
	raw, _ := json.Marshal(mustCall(t, append(fast, args...)...))
	var s notedSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}
