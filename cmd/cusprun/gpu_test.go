package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/gpu"
)

// runCLI calls a verb in-process and returns its exit status, stdout and
// stderr; a run that does not return within limit fails the test (a
// failing GPU must never hang the command).
func runCLI(t *testing.T, limit time.Duration, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cli.Stdout, cli.Stderr = &out, &errb
	defer func() { cli.Stdout, cli.Stderr = os.Stdout, os.Stderr }()
	done := make(chan int, 1)
	go func() { done <- cli.Main(args) }()
	select {
	case code := <-done:
		return code, out.String(), errb.String()
	case <-time.After(limit):
		t.Fatalf("cusprun %v still running after %s", args, limit)
		return 0, "", ""
	}
}

// needGPU skips the test without a Vulkan adapter, unless
// CUSPRUN_REQUIRE_GPU=1 makes that a failure.
func needGPU(t *testing.T) {
	t.Helper()
	b, err := gpu.New()
	if err != nil {
		if os.Getenv("CUSPRUN_REQUIRE_GPU") == "1" {
			t.Fatalf("CUSPRUN_REQUIRE_GPU=1 but no GPU: %v", err)
		}
		t.Skipf("no Vulkan adapter: %v", err)
	}
	b.Close()
}

// TestGPUEngineFallsBackToCPU: with no adapter (forced, so this runs on
// any machine) --engine gpu warns in one line on stderr and gives the CPU
// engine's answer.
func TestGPUEngineFallsBackToCPU(t *testing.T) {
	src := synthDir(t, "llama", "tiny", 1)
	args := []string{"logits", "--model", src, "--ids", "1,5,9,3"}
	code, want, _ := runCLI(t, time.Minute, append(args, "--engine", "cpu")...)
	if code != 0 {
		t.Fatalf("cpu engine: exit %d", code)
	}
	t.Setenv("CUSPRUN_GPU_FAULT", "noadapter")
	code, got, stderr := runCLI(t, time.Minute, append(args, "--engine", "gpu")...)
	if code != 0 {
		t.Fatalf("gpu engine without an adapter: exit %d: %s", code, stderr)
	}
	if got != want {
		t.Errorf("the fallback's logits differ from the cpu engine's")
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "warning: no GPU") || !strings.Contains(lines[0], "cpu engine") {
		t.Errorf("stderr = %q, want one warning line naming the cpu engine", stderr)
	}
	t.Log(strings.TrimSpace(stderr))
}

// TestGPUEngineStopsCleanly forces a refused allocation, a lost device and
// a device that stops answering in the middle of a prune and of a ppl run:
// each exits 1 within bounded time with one line on stderr that says what
// happened and that --engine cpu runs the job, and the prune leaves
// nothing at --out. Without a fault the same prune succeeds on the GPU.
func TestGPUEngineStopsCleanly(t *testing.T) {
	needGPU(t)
	src := synthDir(t, "qwen2", "tiny", 2)
	dir := t.TempDir()
	data := filepath.Join(dir, "held.jsonl")
	if err := os.WriteFile(data, []byte("{\"text\":\"Der Vertrag ist nichtig, wenn eine Partei getäuscht wurde.\"}\n{\"text\":\"The parties agree to settle the dispute by arbitration.\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prune := func(out string) []string {
		return []string{"prune", "--model", src, "--language", "de", "--ratio", "0.3", "--out", out, "--cache", "off",
			"--engine", "gpu", "--max-docs", "4", "--max-tokens", "32", "--eval=false"}
	}
	code, _, stderr := runCLI(t, 3*time.Minute, prune(filepath.Join(dir, "ok"))...)
	if code != 0 {
		t.Fatalf("prune on the gpu engine without a fault: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct{ fault, want string }{
		{"alloc:9", "out of device memory"},
		{"alloc:30", "out of device memory"},
		{"lost:2", "device lost"},
		{"hang:1", "no answer in 500ms"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			t.Setenv("CUSPRUN_GPU_FAULT", tc.fault)
			t.Setenv("CUSPRUN_GPU_TIMEOUT", "500ms")
			out := filepath.Join(dir, "expert-"+strings.ReplaceAll(tc.fault, ":", ""))
			for _, args := range [][]string{prune(out), {"ppl", "--model", src, "--data", data, "--engine", "gpu"}} {
				code, stdout, stderr := runCLI(t, 2*time.Minute, args...)
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				last := lines[len(lines)-1]
				if code != 1 || !strings.HasPrefix(last, "cusprun "+args[0]+": ") || !strings.Contains(last, tc.want) || !strings.Contains(last, "--engine cpu") {
					t.Errorf("%s: exit %d, stderr %q, want exit 1 and one line with %q and the --engine cpu hint", args[0], code, stderr, tc.want)
				}
				if stdout != "" {
					t.Errorf("%s: printed %q on stdout after failing", args[0], stdout)
				}
				t.Logf("%s: %s", args[0], last)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed prune left %s behind", out)
			}
		})
	}
}
