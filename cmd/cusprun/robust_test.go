package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

func synthDir(t *testing.T, fam, shape string, layers int) string {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: fam, Shape: shape, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := synth.WriteHF(dir, c, 2, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sums hashes every file under a path. A path that cannot be walked or a
// file that cannot be read fails the test, and so does finding no file or
// only empty ones: two failed reads must never compare as equal outputs.
func sums(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var total int64
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		total += n
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out[rel] = hex.EncodeToString(h.Sum(nil)) + " " + info.ModTime().String()
		return nil
	})
	if err != nil {
		t.Fatalf("hashing %s: %v", root, err)
	}
	if len(out) == 0 || total == 0 {
		t.Fatalf("hashing %s: no file or only empty ones (%d files)", root, len(out))
	}
	return out
}

// TestPruneDeterministicAcrossEngines prunes the same model twice natively
// and once inside wazero: the three outputs are byte-identical, and the
// source is untouched (checksums and times before and after).
func TestPruneDeterministicAcrossEngines(t *testing.T) {
	t.Setenv("CUSPRUN_WASM", buildWasm(t))
	src := synthDir(t, "qwen2", "tiny", 2)
	before := sums(t, src)
	dir := t.TempDir()
	var outs []map[string]string
	for i, eng := range []string{"cpu", "cpu", "wasm"} {
		out := filepath.Join(dir, "expert"+string(rune('a'+i))+".zip")
		run(t, "prune", "--model", src, "--language", "de", "--ratio", "0.3", "--format", "zip", "--out", out, "--cache", "off",
			"--engine", eng, "--max-docs", "6", "--max-tokens", "48", "--eval=false")
		s := sums(t, out)
		for k, v := range s {
			s[k] = strings.Fields(v)[0]
		}
		outs = append(outs, s)
	}
	for i := 1; i < len(outs); i++ {
		if len(outs[i]) != len(outs[0]) {
			t.Errorf("run %d has %d files, run 0 %d", i, len(outs[i]), len(outs[0]))
		}
		for k, v := range outs[0] {
			if outs[i][k] != v {
				t.Errorf("run %d differs from run 0 (%s)", i, k)
			}
		}
	}
	if after := sums(t, src); len(after) != len(before) {
		t.Fatalf("source files changed: %v -> %v", before, after)
	} else {
		for k, v := range before {
			if after[k] != v {
				t.Errorf("source file %s changed", k)
			}
		}
	}
}

// TestKilledPruneLeavesNothing kills a prune with SIGKILL at several
// moments: nothing ever appears at --out, and the next run succeeds and
// clears the killed run's staging.
func TestKilledPruneLeavesNothing(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cusprun")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	src := synthDir(t, "llama", "small", 0)
	dir := t.TempDir()
	out := filepath.Join(dir, "expert")
	args := []string{"prune", "--model", src, "--language", "de", "--ratio", "0.25", "--out", out, "--max-docs", "24", "--max-tokens", "128", "--cache", "off"}
	for _, d := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second} {
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if _, serr := os.Stat(out); serr == nil {
			if err == nil {
				t.Logf("run finished before the kill at %s", d)
				os.RemoveAll(out)
				os.Remove(strings.TrimSuffix(out, "") + ".report.json")
				continue
			}
			t.Fatalf("killed at %s: something exists at --out", d)
		}
	}
	if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("a run after the kills failed: %v\n%s", err, b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".expert.partial-*"))
	if len(left) > 0 {
		t.Errorf("staging of killed runs left behind: %v", left)
	}
}
