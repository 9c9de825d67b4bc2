// Command prefill measures prompt-processing (prefill) speed: tokens per
// second of cusprun's --engine cpu and --engine wasm against llama.cpp
// (through node-llama-cpp, tools/llamaref) on the same synthetic models, and
// prints a table with the ratios. `./build.sh bench prefill` runs it.
//
// For each shape it synthesizes the model once (bf16, as an HF folder for
// cusprun and as GGUF for llama.cpp; cached under -dir), then, for each of
// -docs documents of -tokens random token ids, -reps times:
//
//   - cpu:   bin/cusprun logits --engine cpu, GOMAXPROCS=-threads
//   - wasm:  bin/cusprun logits --engine wasm (the WASI build under wazero;
//     Go's wasip1 port runs one thread), on the first -wasm-docs documents
//     only, -wasm-reps times: it is some 20 times slower than cpu
//   - llama: llama.cpp on the GGUF, -threads threads, last position's logits
//
// cusprun's time is the wall time of the command less its start-up (the
// median wall time of the same command that fails on a missing model: process
// start, wazero's cached compile, the guest's runtime start). It therefore
// includes reading every layer's bf16 weights and widening them to float32,
// which cusprun does for every batch, and printing the logits as JSON.
// llama.cpp's time is node-llama-cpp's evaluation alone (model loaded, weights
// mapped). Figures are medians over documents and repeats.
//
// It also checks that the cpu and wasm engines print the same logits, byte
// for byte.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cusprun/cusprun/tools/llamaref"
)

type shape struct{ family, name string }

var shapes = map[string]shape{
	"smollm-135m":  {"llama", "smollm-135m"},
	"qwen2.5-0.5b": {"qwen2", "qwen2.5-0.5b"},
}

func main() {
	shapeList := flag.String("shapes", "smollm-135m,qwen2.5-0.5b", "model shapes, comma-separated")
	docs := flag.Int("docs", 3, "documents per shape")
	reps := flag.Int("reps", 1, "repeats per document and engine")
	wasmReps := flag.Int("wasm-reps", 1, "repeats per document for the (slow) wasm engine; 0 skips it")
	wasmDocs := flag.Int("wasm-docs", 1, "documents the (slow) wasm engine runs, from the first")
	tokens := flag.Int("tokens", 256, "tokens per document")
	threads := flag.Int("threads", 2, "threads for the cpu engine (GOMAXPROCS) and llama.cpp")
	dir := flag.String("dir", filepath.Join(llamaref.DepsDir(), "bench"), "cache of synthesized models")
	bin := flag.String("bin", "bin/cusprun", "the cusprun command (built by ./build.sh build)")
	engines := flag.String("engines", "cpu,wasm,llama", "engines to run")
	flag.Parse()

	if _, err := os.Stat(*bin); err != nil {
		fail("%s not found: run ./build.sh build first", *bin)
	}
	use := map[string]bool{}
	for _, e := range strings.Split(*engines, ",") {
		use[strings.TrimSpace(e)] = true
	}
	if use["llama"] {
		if err := llamaref.Available(""); err != nil {
			fmt.Fprintf(os.Stderr, "prefill: llama.cpp skipped: %v\n", err)
			use["llama"] = false
		}
	}
	if *wasmReps == 0 {
		use["wasm"] = false
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fail("%v", err)
	}

	type row struct {
		shape                      string
		cpu, wasm, llama           float64 // tokens/s (0: not run)
		cpuStart, wasmStart        float64 // seconds
		identical, compared, agree int
	}
	var rows []row
	for _, name := range strings.Split(*shapeList, ",") {
		sh, ok := shapes[strings.TrimSpace(name)]
		if !ok {
			fail("unknown shape %q", name)
		}
		hf, gguf := synth(*bin, *dir, sh)
		vocab := vocabOf(hf)
		r := row{shape: sh.name}
		var cpuT, wasmT, llamaT []float64
		env := []string{"GOMAXPROCS=" + strconv.Itoa(*threads)}
		// Start-up: the same command failing at once on a missing model.
		missing := filepath.Join(*dir, "no-such-model")
		if use["cpu"] {
			r.cpuStart = startup(*bin, env, missing, "cpu")
		}
		if use["wasm"] {
			r.wasmStart = startup(*bin, env, missing, "wasm")
		}
		for d := 0; d < *docs; d++ {
			ids := document(d, *tokens, vocab)
			var cpuOut, wasmOut []byte
			for rep := 0; rep < *reps; rep++ {
				if use["cpu"] {
					s, out := logits(*bin, env, hf, ids, "cpu")
					cpuT = append(cpuT, s-r.cpuStart)
					cpuOut = out
					progress("%s doc %d cpu: %.2f s", sh.name, d, s-r.cpuStart)
				}
				if use["wasm"] && rep < *wasmReps && d < *wasmDocs {
					s, out := logits(*bin, env, hf, ids, "wasm")
					wasmT = append(wasmT, s-r.wasmStart)
					wasmOut = out
					progress("%s doc %d wasm: %.2f s", sh.name, d, s-r.wasmStart)
				}
				if use["llama"] {
					res, err := llamaref.Eval(gguf, ids, llamaref.Options{Threads: *threads, LastOnly: true})
					if err != nil {
						fail("llama.cpp: %v", err)
					}
					llamaT = append(llamaT, float64(res.EvalMS)/1000)
					progress("%s doc %d llama.cpp: %.2f s (load %.2f s)", sh.name, d, float64(res.EvalMS)/1000, float64(res.LoadMS)/1000)
					if cpuOut != nil && rep == 0 {
						if argmax(cpuOut) == res.Top1[0] {
							r.agree++
						}
					}
				}
			}
			if cpuOut != nil && wasmOut != nil {
				r.compared++
				if bytes.Equal(cpuOut, wasmOut) {
					r.identical++
				}
			}
		}
		r.cpu = rate(*tokens, cpuT)
		r.wasm = rate(*tokens, wasmT)
		r.llama = rate(*tokens, llamaT)
		rows = append(rows, r)
	}

	fmt.Printf("prefill, %d-token documents, bf16 weights, %d docs x %d repeats (wasm: %d docs x %d), medians; %s, %d CPUs, GOMAXPROCS for cpu = %d, llama.cpp threads = %d\n\n",
		*tokens, *docs, *reps, min(*docs, *wasmDocs), min(*reps, *wasmReps), cpuName(), runtime.NumCPU(), *threads, *threads)
	fmt.Printf("| shape | cpu tok/s | wasm tok/s | llama.cpp tok/s | cpu / llama.cpp | wasm / cpu | cpu = wasm logits | top-1 cpu = llama.cpp |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.shape, num(r.cpu), num(r.wasm), num(r.llama),
			ratio(r.cpu, r.llama), ratio(r.wasm, r.cpu), frac(r.identical, r.compared), frac(r.agree, *docs))
	}
	fmt.Printf("\nstart-up subtracted (s): ")
	for _, r := range rows {
		fmt.Printf("%s cpu %.3f wasm %.3f; ", r.shape, r.cpuStart, r.wasmStart)
	}
	fmt.Println()
}

// synth writes the HF folder and the GGUF of a shape once.
func synth(bin, dir string, sh shape) (hf, gguf string) {
	hf = filepath.Join(dir, sh.name+"-bf16.hf")
	gguf = filepath.Join(dir, sh.name+"-bf16.gguf")
	for _, f := range []struct{ path, format string }{{hf, "hf"}, {gguf, "gguf"}} {
		if _, err := os.Stat(f.path); err == nil {
			continue
		}
		progress("synthesizing %s (%s, bf16, %s)", sh.name, sh.family, f.format)
		cmd := exec.Command(bin, "synth", "--family", sh.family, "--shape", sh.name, "--dtype", "bf16", "--format", f.format, "--out", f.path)
		cmd.Stderr = os.Stderr
		if out, err := cmd.Output(); err != nil {
			fail("synth: %v: %s", err, out)
		}
	}
	return hf, gguf
}

func vocabOf(hf string) int {
	b, err := os.ReadFile(filepath.Join(hf, "config.json"))
	if err != nil {
		fail("%v", err)
	}
	i := bytes.Index(b, []byte(`"vocab_size"`))
	if i < 0 {
		fail("no vocab_size in %s/config.json", hf)
	}
	s := strings.TrimLeft(string(b[i+len(`"vocab_size"`):]), ": ")
	end := strings.IndexAny(s, ",}\n ")
	v, err := strconv.Atoi(s[:end])
	if err != nil {
		fail("vocab_size: %v", err)
	}
	return v
}

// document d: deterministic random token ids (no special meaning).
func document(d, n, vocab int) []int {
	r := rand.New(rand.NewSource(int64(1000 + d)))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.Intn(vocab)
	}
	return ids
}

func idList(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ",")
}

// logits runs the logits verb and returns its wall time and stdout.
func logits(bin string, env []string, model string, ids []int, engine string) (float64, []byte) {
	cmd := exec.Command(bin, "logits", "--model", model, "--ids", idList(ids), "--engine", engine)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	out, err := cmd.Output()
	s := time.Since(t0).Seconds()
	if err != nil {
		fail("%s logits --engine %s: %v: %s", bin, engine, err, stderr.String())
	}
	return s, out
}

// startup is the median wall time of the logits verb failing on a missing model.
func startup(bin string, env []string, missing, engine string) float64 {
	var t []float64
	for i := 0; i < 5; i++ {
		cmd := exec.Command(bin, "logits", "--model", missing, "--ids", "1", "--engine", engine)
		cmd.Env = append(os.Environ(), env...)
		t0 := time.Now()
		if err := cmd.Run(); err == nil {
			fail("the start-up probe succeeded on a missing model")
		}
		t = append(t, time.Since(t0).Seconds())
	}
	return median(t)
}

// argmax of the "logits" array in the verb's JSON.
func argmax(out []byte) int {
	s := string(out)
	i, j := strings.IndexByte(s, '['), strings.LastIndexByte(s, ']')
	if i < 0 || j < i {
		return -1
	}
	best, bi := 0.0, -1
	for k, f := range strings.Split(s[i+1:j], ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err == nil && (bi < 0 || v > best) {
			best, bi = v, k
		}
	}
	return bi
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rate(tokens int, secs []float64) float64 {
	m := median(secs)
	if m <= 0 {
		return 0
	}
	return float64(tokens) / m
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func frac(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", a, b)
}

func cpuName() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

func progress(format string, a ...any) { fmt.Fprintf(os.Stderr, "prefill: "+format+"\n", a...) }

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "prefill: "+format+"\n", a...)
	os.Exit(1)
}
