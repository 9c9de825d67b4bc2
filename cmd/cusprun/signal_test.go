package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain keeps the score cache of the tests' runs out of the user's.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cusprun-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("CUSPRUN_CACHE", dir)
	code := m.Run()
	os.RemoveAll(dir)
	if wasmBuilt.path != "" {
		os.RemoveAll(filepath.Dir(wasmBuilt.path))
	}
	os.Exit(code)
}

// TestSignalStopsPrune sends SIGINT or SIGTERM when prune reports a phase
// (scoring, evaluation): it exits 130 or 143 with one line saying nothing
// was written, and nothing is left at --out or beside it. The signal is
// sent on the phase's first progress line, not after a delay, so the test
// does not depend on the machine's speed.
func TestSignalStopsPrune(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cusprun")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	src := synthDir(t, "llama", "small", 0)
	for _, tc := range []struct {
		phase string
		sig   syscall.Signal
		code  int
	}{{"score:", syscall.SIGINT, 130}, {"evaluate:", syscall.SIGTERM, 143}} {
		t.Run(tc.phase, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "expert")
			cmd := exec.Command(bin, "prune", "--model", src, "--language", "de", "--ratio", "0.25", "--out", out,
				"--max-docs", "24", "--max-tokens", "128", "--cache", "off")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var last string
			sent := false
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				last = sc.Text()
				if !sent && strings.HasPrefix(last, tc.phase) {
					cmd.Process.Signal(tc.sig)
					sent = true
				}
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("signal at %s: %v, want exit %d (last line %q)", tc.phase, err, tc.code, last)
			}
			if !strings.Contains(last, "interrupted; nothing written at "+out) {
				t.Errorf("last line %q", last)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q after an interrupt", stdout.String())
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left beside the output: %s", ents[0].Name())
			}
		})
	}
}
