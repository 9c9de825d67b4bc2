package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatFromOut: without --format, prune --out x.gguf writes a GGUF
// file and y.zip a zip, and synth --out x.gguf a GGUF file (before, each was
// a Hugging Face folder under that name); an extension that contradicts
// --format is refused in one line before any work, and nothing is written.
func TestFormatFromOut(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	args := func(out string, extra ...string) []string {
		return append([]string{"prune", "--model", src, "--language", "de", "--ratio", "0.3", "--out", out,
			"--eval=false", "--max-docs", "4", "--max-tokens", "32", "--cache", "off"}, extra...)
	}
	for _, c := range []struct{ name, format, magic string }{{"x.gguf", "gguf", "GGUF"}, {"y.ZIP", "zip", "PK"}} {
		out := filepath.Join(dir, c.name)
		m := mustCall(t, args(out)...)
		if got := strings.Trim(string(m["format"]), `"`); got != c.format {
			t.Errorf("%s: written as %s", c.name, got)
		}
		b, err := os.ReadFile(out)
		if err != nil || !strings.HasPrefix(string(b), c.magic) {
			t.Errorf("%s is not a %s file (%v)", c.name, c.format, err)
		}
	}
	// synth the same way
	syn := filepath.Join(dir, "synth.gguf")
	mustCall(t, "synth", "--out", syn)
	if b, err := os.ReadFile(syn); err != nil || !strings.HasPrefix(string(b), "GGUF") {
		t.Errorf("synth --out synth.gguf did not write a GGUF file (%v)", err)
	}
	for _, c := range []struct{ name, format, want string }{
		{"z.gguf", "hf", "--out " + filepath.Join(dir, "z.gguf") + " ends in .gguf, but --format is hf: use --format gguf"},
		{"w.zip", "gguf", "ends in .zip, but --format is gguf: use --format zip"},
	} {
		out := filepath.Join(dir, c.name)
		_, errs, code := call(args(out, "--format", c.format)...)
		if code == 0 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("--format %s --out %s: exit %d, %q; want one line with %q", c.format, c.name, code, errs, c.want)
		}
		if _, err := os.Lstat(out); err == nil {
			t.Errorf("%s was written", c.name)
		}
	}
}
