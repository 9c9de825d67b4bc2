// Package llamaref runs llama.cpp (through the npm package node-llama-cpp,
// prebuilt, CPU only, offline) on a GGUF file, so that tests can cross-check
// cusprun's engine and prove that exported GGUF files load in llama.cpp.
//
// It needs node (20 or later) on PATH and the packages that `./build.sh setup`
// installs under the deps folder ($CUSPRUN_DEPS, default .deps at the repository
// root). Tests call Available first and skip with its error when it is not nil.
//
// node-llama-cpp 3.21.1 exposes next-token probabilities, not raw logits, so the
// values returned are log-probabilities (kind "logprobs"): for each position,
// logits - logsumexp(logits). Compare them with log_softmax of the engine's
// logits; they carry the same information up to a per-position constant.
package llamaref

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed logits.mjs
var logitsScript []byte

// Kind values returned by Logits.
const (
	KindLogits   = "logits"
	KindLogprobs = "logprobs"
)

// Version of node-llama-cpp this package was written against.
const Version = "3.21.1"

// Options for Eval.
type Options struct {
	// Threads for llama.cpp; 0 means 1, which is fastest and most repeatable on
	// a small shared machine (llama.cpp's threads spin while they wait).
	Threads int
	// LastOnly returns the last position only: the full distributions cost
	// about 11 ms per position at a 32000 vocabulary, far more than evaluating
	// a small model.
	LastOnly bool
}

// Result is one evaluation of a token sequence.
type Result struct {
	Kind      string      // KindLogprobs (node-llama-cpp 3.21.1 gives probabilities only)
	NVocab    int         // vocabulary size
	Positions []int       // the position of each row of Values
	Values    [][]float32 // [row][token]; -Inf where a probability underflowed
	Top1      []int       // most probable next token per row
	LoadMS    int         // model load and context creation, milliseconds
	EvalMS    int         // evaluation, milliseconds
	ConvertMS int         // turning node-llama-cpp's probability maps into rows, milliseconds
	WallMS    int         // the whole node process, milliseconds
}

// DepsDir is the deps folder used when none is given: $CUSPRUN_DEPS, else .deps
// in the nearest folder above the working directory (or above this source file)
// that holds go.mod.
func DepsDir() string {
	if d := os.Getenv("CUSPRUN_DEPS"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return filepath.Join(d, ".deps")
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return ".deps"
}

// Available reports why llama.cpp cannot be run with the given deps folder
// ("" means DepsDir()), or nil when it can.
func Available(depsDir string) error {
	if depsDir == "" {
		depsDir = DepsDir()
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return errors.New("llamaref: node is not on PATH (run ./build.sh setup)")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return fmt.Errorf("llamaref: node --version: %v", err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if major < 20 {
		return fmt.Errorf("llamaref: node %s is too old (need 20 or later)", v)
	}
	mods := filepath.Join(depsDir, "node", "node_modules")
	for _, pkg := range []string{"node-llama-cpp", "@node-llama-cpp/linux-x64"} {
		b, err := os.ReadFile(filepath.Join(mods, filepath.FromSlash(pkg), "package.json"))
		if err != nil {
			return fmt.Errorf("llamaref: %s is not installed under %s (run ./build.sh setup)", pkg, mods)
		}
		var meta struct{ Version string }
		if err := json.Unmarshal(b, &meta); err != nil || meta.Version != Version {
			return fmt.Errorf("llamaref: %s is %q under %s, want %s (run ./build.sh setup)", pkg, meta.Version, mods, Version)
		}
	}
	return nil
}

// Logits evaluates ids (no BOS is added) with llama.cpp and returns, for every
// position, the distribution of the next token over the whole vocabulary, and
// its kind: KindLogprobs with node-llama-cpp 3.21.1.
func Logits(ggufPath string, ids []int) (perPos [][]float32, kind string, err error) {
	r, err := Eval(ggufPath, ids, Options{})
	if err != nil {
		return nil, "", err
	}
	return r.Values, r.Kind, nil
}

var (
	scriptOnce sync.Once
	scriptPath string
	scriptErr  error
)

// script writes the embedded logits.mjs once into the temporary folder,
// under a name made from its content, so that callers need no path to
// this package's sources and test runs leave one copy, not one each.
func script() (string, error) {
	scriptOnce.Do(func() {
		sum := sha256.Sum256(logitsScript)
		scriptPath, scriptErr = shared(fmt.Sprintf("cusprun-llamaref-%x.mjs", sum[:8]), func(tmp string) error {
			return os.WriteFile(tmp, logitsScript, 0o600)
		})
	})
	return scriptPath, scriptErr
}

// shared returns the path of name in the temporary folder, making it with
// build (given a temporary path beside it, then renamed into place, so that
// processes running at once never see half a file) when it is not there.
func shared(name string, build func(tmp string) error) (string, error) {
	path := filepath.Join(os.TempDir(), name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	dir, err := os.MkdirTemp("", "cusprun-making-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, name)
	if err := build(tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		if _, serr := os.Stat(path); serr == nil {
			return path, nil // another process made it first
		}
		return "", err
	}
	return path, nil
}

// Eval is Logits with options and everything the reference reports.
func Eval(ggufPath string, ids []int, opt Options) (*Result, error) {
	if len(ids) == 0 {
		return nil, errors.New("llamaref: no token ids")
	}
	deps := DepsDir()
	if err := Available(deps); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(ggufPath)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("llamaref: %v", err)
	}
	js, err := script()
	if err != nil {
		return nil, fmt.Errorf("llamaref: writing the node script: %v", err)
	}
	bin, err := os.CreateTemp("", "cusprun-llamaref-*.f32")
	if err != nil {
		return nil, err
	}
	bin.Close()
	defer os.Remove(bin.Name())

	input, _ := json.Marshal(map[string][]int{"ids": ids})
	threads := max(opt.Threads, 1)
	args := []string{js, abs, "--bin", bin.Name(), "--threads", strconv.Itoa(threads)}
	if opt.LastOnly {
		args = append(args, "--last")
	}
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "CUSPRUN_DEPS="+deps, "NODE_LLAMA_CPP_SKIP_DOWNLOAD=true")
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return nil, fmt.Errorf("llamaref: node %s: %v: %s", filepath.Base(abs), err, msg)
	}
	wall := int(time.Since(start).Milliseconds())

	var meta struct {
		Kind      string `json:"kind"`
		NVocab    int    `json:"n_vocab"`
		Positions []int  `json:"positions"`
		Top1      []int  `json:"top1"`
		LoadMS    int    `json:"load_ms"`
		EvalMS    int    `json:"eval_ms"`
		ConvertMS int    `json:"convert_ms"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &meta); err != nil {
		return nil, fmt.Errorf("llamaref: bad output from node: %v: %.200q", err, stdout.String())
	}
	rowsWant := len(ids)
	if opt.LastOnly {
		rowsWant = 1
	}
	if len(meta.Positions) != rowsWant || meta.NVocab <= 0 || len(meta.Top1) != rowsWant {
		return nil, fmt.Errorf("llamaref: node returned %d rows of %d tokens for %d ids", len(meta.Positions), meta.NVocab, len(ids))
	}
	n := rowsWant
	raw, err := os.ReadFile(bin.Name())
	if err != nil {
		return nil, err
	}
	if len(raw) != 4*n*meta.NVocab {
		return nil, fmt.Errorf("llamaref: node wrote %d bytes, want %d", len(raw), 4*n*meta.NVocab)
	}
	vals := make([]float32, n*meta.NVocab)
	for i := range vals {
		vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	rows := make([][]float32, n)
	for p := range rows {
		rows[p] = vals[p*meta.NVocab : (p+1)*meta.NVocab : (p+1)*meta.NVocab]
	}
	return &Result{
		Kind: meta.Kind, NVocab: meta.NVocab, Positions: meta.Positions, Values: rows, Top1: meta.Top1,
		LoadMS: meta.LoadMS, EvalMS: meta.EvalMS, ConvertMS: meta.ConvertMS, WallMS: wall,
	}, nil
}

// Tokenize returns llama.cpp's tokenization of each text with the vocabulary
// of a GGUF file (only the vocabulary is loaded): no BOS, and special-token
// text is plain text, as core/tokenizer's Encode with no options.
func Tokenize(ggufPath string, texts []string) ([][]int, error) {
	return TokenizeSpecial(ggufPath, texts, false)
}

// TokenizeSpecial is Tokenize with llama_tokenize's parse_special: when true,
// the text of control tokens ("<s>", "<|im_start|>") becomes those tokens, as
// core/tokenizer's Encode with ParseSpecial. No BOS either way.
func TokenizeSpecial(ggufPath string, texts []string, parseSpecial bool) ([][]int, error) {
	deps := DepsDir()
	if err := Available(deps); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(ggufPath)
	if err != nil {
		return nil, err
	}
	js, err := script()
	if err != nil {
		return nil, fmt.Errorf("llamaref: writing the node script: %v", err)
	}
	input, _ := json.Marshal(struct {
		Texts   []string `json:"texts"`
		Special bool     `json:"special"`
	}{texts, parseSpecial})
	cmd := exec.Command("node", js, abs, "--tokenize")
	cmd.Env = append(os.Environ(), "CUSPRUN_DEPS="+deps, "NODE_LLAMA_CPP_SKIP_DOWNLOAD=true")
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return nil, fmt.Errorf("llamaref: node --tokenize %s: %v: %s", filepath.Base(abs), err, msg)
	}
	var out struct {
		IDs [][]int `json:"ids"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.IDs) != len(texts) {
		return nil, fmt.Errorf("llamaref: bad --tokenize output: %v: %.200q", err, stdout.String())
	}
	return out.IDs, nil
}

// LogSoftmax turns one position's logits into log-probabilities, the form
// Eval reports, so an engine's logits can be compared with llama.cpp's.
func LogSoftmax(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - mx - math.Log(s)
	}
	return out
}

// SharedDir is the shared folder beside the repository (the trained
// tiny-multi model and its corpora): $CUSPRUN_SHARED, else ../shared next to
// the folder holding go.mod, as CI lays it out.
func SharedDir() string {
	if d := os.Getenv("CUSPRUN_SHARED"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(DepsDir()), "..", "shared")
}

// Missing is for tests whose reference or data is absent: under CI (CI set)
// it fails the test, since ./build.sh setup and the CI layout provide
// everything; elsewhere it skips with the reason.
func Missing(t interface {
	Helper()
	Fatalf(string, ...any)
	Skipf(string, ...any)
}, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("missing in CI: %v", err)
	}
	t.Skipf("skipped: %v", err)
}

// Agreement is how an engine's logits compare with llama.cpp's result.
type Agreement struct {
	Top1    int     // positions whose most probable token is the same
	MaxDiff float64 // largest |log p(engine) - log p(llama.cpp)|
	Scale   float64 // largest |engine logit| (the scale MaxDiff is read against)
}

// Compare checks logits ([positions, vocab], as the engine's AllLogits gives)
// against the result, position by position. Tokens whose engine
// log-probability is below floor (math.Inf(-1) for none), or whose
// probability llama.cpp rounded to zero, are left out of MaxDiff.
func (r *Result) Compare(logits []float32, vocab int, floor float64) Agreement {
	var a Agreement
	for p := range r.Values {
		row := logits[p*vocab : (p+1)*vocab]
		lp := LogSoftmax(row)
		best := 0
		for v := range lp {
			if lp[v] > lp[best] {
				best = v
			}
			x := float64(r.Values[p][v])
			if math.IsInf(x, -1) || lp[v] < floor {
				continue
			}
			a.MaxDiff = math.Max(a.MaxDiff, math.Abs(lp[v]-x))
			a.Scale = math.Max(a.Scale, math.Abs(float64(row[v])))
		}
		if best == r.Top1[p] {
			a.Top1++
		}
	}
	return a
}
