package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepeatedTargetFlags: --language de --language fr is --language de,fr
// (the same calibration, the same expert), not the last flag alone.
func TestRepeatedTargetFlags(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	prune := func(name string, target ...string) (map[string][]byte, string) {
		out := filepath.Join(dir, name)
		res := mustCall(t, append([]string{"prune", "--model", src, "--ratio", "0.3", "--eval=false", "--out", out}, target...)...)
		return readTree(t, out), string(res["calibration"])
	}
	want, wantCal := prune("list", "--language", "de,fr", "--domain", "law,medicine")
	got, gotCal := prune("repeated", "--language", "de", "--language", "fr", "--domain", "law", "--domain", "medicine")
	_, lastCal := prune("last", "--language", "fr", "--domain", "medicine")
	if gotCal != wantCal {
		t.Fatalf("repeated flags calibrate on %s, the comma list on %s", gotCal, wantCal)
	}
	if lastCal == wantCal {
		t.Fatalf("the last flag alone calibrates on as much as both (%s): the test cannot tell them apart", lastCal)
	}
	for f, b := range want {
		if f != "README.md" && !bytes.Equal(got[f], b) {
			t.Errorf("%s differs between repeated flags and the comma list", f)
		}
	}
}

// TestSizesRefused: document counts and lengths that select nothing stop
// with one line naming the flag, in every verb that takes them (before,
// --max-tokens -1 made ppl and eval panic, and prune took it as 512).
func TestSizesRefused(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	data := filepath.Join(dir, "d.jsonl")
	if err := os.WriteFile(data, []byte("{\"text\": \"Guten Morgen, wie geht es dir heute?\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		args []string
		want string
	}{
		{[]string{"ppl", "--model", src, "--data", data, "--max-tokens", "-1"}, "--max-tokens -1"},
		{[]string{"ppl", "--model", src, "--data", data, "--max-tokens", "1"}, "--max-tokens 1"},
		{[]string{"ppl", "--model", src, "--data", data, "--max-docs", "-2"}, "--max-docs -2"},
		{[]string{"eval", "--model", src, "--data", data, "--max-tokens", "-3"}, "--max-tokens -3"},
		{[]string{"eval", "--model", src, "--data", data, "--max-docs", "-1"}, "--max-docs -1"},
		{[]string{"synth", "--family", "llama", "--shape", "tiny", "--layers", "-1", "--out", filepath.Join(dir, "o3")}, "--layers -1"},
		{[]string{"prune", "--model", src, "--ratio", "0.2", "--out", filepath.Join(dir, "o1"), "--max-tokens", "-5"}, "max tokens -5"},
		{[]string{"prune", "--model", src, "--ratio", "0.2", "--out", filepath.Join(dir, "o2"), "--max-tokens", "1"}, "max tokens 1"},
	} {
		_, errs, code := call(k.args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code == 0 || !strings.Contains(lines[len(lines)-1], k.want) {
			t.Errorf("%v: exit %d, last line %q, want one naming %q", k.args, code, lines[len(lines)-1], k.want)
		}
	}
	// The smallest allowed length still scores.
	if _, errs, code := call("ppl", "--model", src, "--data", data, "--max-tokens", "2"); code != 0 {
		t.Errorf("--max-tokens 2: %s", errs)
	}
	for _, o := range []string{"o1", "o2", "o3"} {
		if _, err := os.Stat(filepath.Join(dir, o)); !os.IsNotExist(err) {
			t.Errorf("%s was written: %v", o, err)
		}
	}
}

// TestIgnoredFlagsWarned: a flag that the others make meaningless gets a
// warning naming it, and the job still runs; meaningful ones get none.
func TestIgnoredFlagsWarned(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	base := []string{"prune", "--model", src, "--ratio", "0.2", "--max-tokens", "16", "--cache", "off", "--eval=false"}
	_, errs, code := call(append(base, "--eval-docs", "3", "--compensate=false", "--reselect", "2", "--seed", "4", "--out", filepath.Join(dir, "a"))...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, f := range []string{"--eval-docs", "--reselect", "--seed"} {
		if !strings.Contains(errs, "warning: "+f+" ") {
			t.Errorf("no warning for %s in:\n%s", f, errs)
		}
	}
	_, errs, code = call(append(base, "--method", "random", "--seed", "4", "--reselect", "2", "--out", filepath.Join(dir, "b"))...)
	if code != 0 || strings.Contains(errs, "warning") {
		t.Errorf("random with --seed and the refit's --reselect: exit %d, stderr:\n%s", code, errs)
	}
}

// TestTokenizeTakesModel: tokenize names the model --model, as every other
// verb does, and means by it what --tokenizer means.
func TestTokenizeTakesModel(t *testing.T) {
	src := synthSource(t, t.TempDir(), "llama", "tiny", nil)
	a, errs, code := call("tokenize", "--tokenizer", src, "--text", "hello world")
	b, errs2, code2 := call("tokenize", "--model", src, "--text", "hello world")
	if code != 0 || code2 != 0 || a != b || !strings.Contains(a, `"ids"`) {
		t.Errorf("--tokenizer: %q (%s); --model: %q (%s)", a, errs, b, errs2)
	}
}
