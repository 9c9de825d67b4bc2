package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

var wasmBuilt struct {
	sync.Once
	path string
	err  error
	log  []byte
}

// buildWasm compiles the WASI build once for the tests of this package
// (into a folder TestMain removes).
func buildWasm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CUSPRUN_WASM"); p != "" {
		return p
	}
	wasmBuilt.Do(func() {
		dir, err := os.MkdirTemp("", "cusprun-wasm-test")
		if err != nil {
			wasmBuilt.err = err
			return
		}
		wasmBuilt.path = filepath.Join(dir, "cusprun.wasm")
		cmd := exec.Command("go", "build", "-o", wasmBuilt.path, "../../wasm/wasi")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		wasmBuilt.log, wasmBuilt.err = cmd.CombinedOutput()
	})
	if wasmBuilt.err != nil {
		t.Fatalf("building the WASI module: %v\n%s", wasmBuilt.err, wasmBuilt.log)
	}
	return wasmBuilt.path
}

// run calls a verb in-process and decodes its JSON.
func run(t *testing.T, args ...string) map[string]json.RawMessage {
	t.Helper()
	var out, errb bytes.Buffer
	cli.Stdout, cli.Stderr = &out, &errb
	defer func() { cli.Stdout, cli.Stderr = os.Stdout, os.Stderr }()
	if code := cli.Main(args); code != 0 {
		t.Fatalf("cusprun %v: exit %d: %s", args, code, errb.String())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("cusprun %v printed %q: %v", args, out.String(), err)
	}
	return m
}

// TestWasmEngineMatchesCPU runs logits at every position for every family
// natively and inside wazero: they must be bit for bit equal.
func TestWasmEngineMatchesCPU(t *testing.T) {
	t.Setenv("CUSPRUN_WASM", buildWasm(t))
	for _, fam := range synth.Families {
		t.Run(fam, func(t *testing.T) {
			c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "m")
			if err := synth.WriteHF(dir, c, 3, tensor.BF16, ""); err != nil {
				t.Fatal(err)
			}
			var got [2][][]float32
			for i, eng := range []string{"cpu", "wasm"} {
				m := run(t, "logits", "--model", dir, "--ids", "1,2,3,300,45,99,7,7,7,120", "--all", "--engine", eng)
				if err := json.Unmarshal(m["logits"], &got[i]); err != nil {
					t.Fatal(err)
				}
			}
			diff, worst := 0, 0.0
			for p := range got[0] {
				for v := range got[0][p] {
					a, b := got[0][p][v], got[1][p][v]
					if math.Float32bits(a) != math.Float32bits(b) {
						diff++
						worst = math.Max(worst, math.Abs(float64(a-b)))
					}
				}
			}
			t.Logf("%d of %d logits differ between cpu and wasm (max %.3g)", diff, len(got[0])*len(got[0][0]), worst)
			if diff != 0 {
				t.Errorf("wasm engine is not bit for bit equal to cpu: %d logits differ, max %.3g", diff, worst)
			}
		})
	}
}

// TestWasmErrorIsOneLine: when the guest refuses a job, its own one-line
// error is the command's last line, printed once, with its exit status
// (not a line that only says the wasm engine failed).
func TestWasmErrorIsOneLine(t *testing.T) {
	t.Setenv("CUSPRUN_WASM", buildWasm(t))
	dir := t.TempDir()
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	if err := synth.WriteHF(src, c, 1, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cli.Stdout, cli.Stderr = &out, &errb
	defer func() { cli.Stdout, cli.Stderr = os.Stdout, os.Stderr }()
	code := cli.Main([]string{"prune", "--engine", "wasm", "--model", src, "--language", "xx", "--ratio", "0.2", "--cache", "off", "--out", filepath.Join(dir, "o")})
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	last := lines[len(lines)-1]
	const want = `cusprun prune: no calibration document has language "xx"`
	if code != 1 || !strings.HasPrefix(last, want) || strings.Count(errb.String(), want) != 1 || strings.Contains(errb.String(), "engine failed") || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and the guest's error once, as the last line", code, out.String(), errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "o")); !os.IsNotExist(err) {
		t.Errorf("the output was written: %v", err)
	}
}
