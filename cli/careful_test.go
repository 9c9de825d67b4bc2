package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// tinyModel writes a small synthetic model folder for the CLI tests.
func tinyModel(t *testing.T, fam string) string {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "src-"+fam)
	if err := synth.WriteHF(dir, c, 5, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fast are flags that keep a test prune small.
var fast = []string{"--language", "de", "--max-docs", "8", "--max-tokens", "48", "--eval-docs", "2"}

// TestPruneRefusesBeforeScoring: each bad invocation fails with one line
// naming the problem, before any scoring starts, and writes nothing.
func TestPruneRefusesBeforeScoring(t *testing.T) {
	src := tinyModel(t, "llama")
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	os.Mkdir(exists, 0o755)
	corpus := filepath.Join(dir, "missing.jsonl")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no ratio", []string{"--out", filepath.Join(dir, "a")}, "--ratio is required"},
		{"ratio too big", []string{"--out", filepath.Join(dir, "a"), "--ratio", "1.5"}, "from 0 to 0.9"},
		{"ratio not a number", []string{"--out", filepath.Join(dir, "a"), "--ratio", "a lot"}, "not a number"},
		{"out exists", []string{"--out", exists, "--ratio", "0.2"}, "already exists"},
		{"out inside source", []string{"--out", filepath.Join(src, "expert"), "--ratio", "0.2"}, "inside the source model"},
		{"out folder missing", []string{"--out", filepath.Join(dir, "no", "x"), "--ratio", "0.2"}, "does not exist"},
		{"missing corpus", []string{"--out", filepath.Join(dir, "a"), "--ratio", "0.2", "--corpus", corpus}, "missing.jsonl"},
		{"bad method", []string{"--out", filepath.Join(dir, "a"), "--ratio", "0.2", "--method", "best"}, "unknown method"},
		{"adaptive hf", []string{"--out", filepath.Join(dir, "a"), "--ratio", "0.2", "--placement", "adaptive"}, "only GGUF"},
		{"unknown domain", []string{"--out", filepath.Join(dir, "a"), "--ratio", "0.2", "--domain", "astrology"}, "astrology"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := call(append([]string{"prune", "--model", src}, tc.args...)...)
			if code == 0 {
				t.Fatalf("accepted: %s", out)
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if len(lines) != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("stderr %q, want one line with %q", errs, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q on an error", out)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("%d entries in the output folder, want only the existing one", len(ents))
			}
		})
	}
	// Adaptive placement warns that it can keep much less.
	_, errs, code := call(append([]string{"prune", "--model", src, "--ratio", "0.2", "--placement", "adaptive", "--format", "gguf",
		"--eval=false", "--out", filepath.Join(dir, "adaptive.gguf")}, fast...)...)
	if code != 0 || !strings.Contains(errs, "warning: adaptive placement can keep much less") {
		t.Errorf("--placement adaptive: exit %d, stderr %q", code, errs)
	}
	os.Remove(filepath.Join(dir, "adaptive.gguf"))
	os.Remove(filepath.Join(dir, "adaptive.report.json"))
	// An explicit ratio of 0 is allowed, with a warning.
	_, errs, code = call(append([]string{"prune", "--model", src, "--ratio", "0", "--eval=false", "--out", filepath.Join(dir, "zero")}, fast...)...)
	if code != 0 || !strings.Contains(errs, "warning: --ratio 0 removes nothing") {
		t.Errorf("--ratio 0: exit %d, stderr %q", code, errs)
	}
}

// TestPlanDryRun: --plan prints per-layer counts, sizes and estimates
// and writes nothing; after a real prune its counts are exact and equal
// the prune's.
func TestPlanDryRun(t *testing.T) {
	src := tinyModel(t, "qwen2")
	cache := t.TempDir()
	dir := t.TempDir()
	plan := func() map[string]json.RawMessage {
		return mustCall(t, append([]string{"prune", "--model", src, "--ratio", "0.3", "--plan", "--cache", cache}, fast...)...)
	}
	type preview struct {
		Exact        bool  `json:"exact"`
		ParamsBefore int64 `json:"params_before"`
		ParamsAfter  int64 `json:"params_after"`
		BytesAfter   int64 `json:"bytes_after"`
		Pruned       struct {
			FFN []int `json:"ffn"`
			AG  []int `json:"attn_groups"`
		} `json:"pruned"`
	}
	var before []preview
	p := plan()
	json.Unmarshal(p["experts"], &before)
	if len(before) != 1 || before[0].Exact || before[0].ParamsAfter >= before[0].ParamsBefore || before[0].BytesAfter <= 0 {
		t.Fatalf("plan before scoring: %s", p["experts"])
	}
	var secs map[string]float64
	json.Unmarshal(p["seconds_estimate"], &secs)
	if !(secs["score"] > 0) || !(secs["evaluate"] > 0) || !(secs["compensate"] > 0) {
		t.Errorf("estimates %v (the refit is on by default and costs time)", secs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("--plan wrote %d files", len(ents))
	}
	res := mustCall(t, append([]string{"prune", "--model", src, "--ratio", "0.3", "--cache", cache, "--out", filepath.Join(dir, "e")}, fast...)...)
	var after []preview
	json.Unmarshal(plan()["experts"], &after)
	var pruned struct {
		FFN []int `json:"ffn"`
		AG  []int `json:"attn_groups"`
	}
	json.Unmarshal(res["pruned"], &pruned)
	if len(after) != 1 || !after[0].Exact || !equalInts(after[0].Pruned.FFN, pruned.FFN) || !equalInts(after[0].Pruned.AG, pruned.AG) {
		t.Fatalf("plan after scoring %+v, the prune removed %+v", after, pruned)
	}
	// A quantized GGUF: the preview keeps whole quant blocks as the prune
	// does (the same counts and parameters), and its size is the tensors'
	// in their new types, which the written file holds plus its header.
	q := []string{"--format", "gguf", "--quant", "q4_k_m"}
	var qplan []preview
	json.Unmarshal(mustCall(t, append(append([]string{"prune", "--model", src, "--ratio", "0.3", "--plan", "--cache", cache}, q...), fast...)...)["experts"], &qplan)
	out := filepath.Join(dir, "q.gguf")
	qres := mustCall(t, append(append([]string{"prune", "--model", src, "--ratio", "0.3", "--cache", cache, "--out", out}, q...), fast...)...)
	var qpruned struct {
		FFN []int `json:"ffn"`
		AG  []int `json:"attn_groups"`
	}
	json.Unmarshal(qres["pruned"], &qpruned)
	var params int64
	json.Unmarshal(qres["params_after"], &params)
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(qplan) != 1 || !equalInts(qplan[0].Pruned.FFN, qpruned.FFN) || qplan[0].ParamsAfter != params ||
		!(qplan[0].BytesAfter > 0 && qplan[0].BytesAfter < st.Size()) || qplan[0].BytesAfter >= after[0].BytesAfter {
		t.Fatalf("q4_k_m plan %+v; the prune removed %+v, kept %d parameters in %d bytes (bf16 plan: %d bytes)", qplan, qpruned, params, st.Size(), after[0].BytesAfter)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// readTree reads every file of an output (a folder or one file).
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = b
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("reading %s: %v (%d files)", root, err, len(out))
	}
	return out
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := readTree(t, a), readTree(t, b)
	if len(ta) != len(tb) {
		t.Fatalf("%s has %d files, %s %d", a, len(ta), b, len(tb))
	}
	for k, v := range ta {
		if !bytes.Equal(v, tb[k]) {
			t.Errorf("%s differs between %s and %s", k, a, b)
		}
	}
}

// TestCachedScoresAndSeveralRatios: a second prune of the same model and
// target reads the cached scores and writes exactly what a fresh prune
// writes; --ratio 0.1,0.2 writes one expert per ratio from one pass, each
// equal to its single-ratio prune.
func TestCachedScoresAndSeveralRatios(t *testing.T) {
	src := tinyModel(t, "llama")
	cache, dir := t.TempDir(), t.TempDir()
	run := func(ratio, out, cache string) map[string]json.RawMessage {
		return mustCall(t, append([]string{"prune", "--model", src, "--ratio", ratio, "--out", filepath.Join(dir, out), "--cache", cache}, fast...)...)
	}
	first := run("0.2", "first", cache)
	if string(first["scores_cached"]) == "true" {
		t.Fatal("the first prune read cached scores")
	}
	second := run("0.3", "second", cache)
	if string(second["scores_cached"]) != "true" {
		t.Fatalf("the second prune scored again: %s", second["seconds"])
	}
	run("0.3", "fresh", "off")
	sameTree(t, filepath.Join(dir, "second"), filepath.Join(dir, "fresh"))

	multi := mustCall(t, append([]string{"prune", "--model", src, "--ratio", "0.1,0.3", "--out", filepath.Join(dir, "m.zip"), "--format", "zip", "--cache", "off"}, fast...)...)
	var experts []struct {
		Out   string  `json:"out"`
		Ratio float64 `json:"ratio"`
	}
	json.Unmarshal(multi["experts"], &experts)
	if len(experts) != 2 || experts[0].Out != filepath.Join(dir, "m-10.zip") || experts[1].Out != filepath.Join(dir, "m-30.zip") {
		t.Fatalf("experts %+v", experts)
	}
	mustCall(t, append([]string{"prune", "--model", src, "--ratio", "0.3", "--out", filepath.Join(dir, "single.zip"), "--format", "zip", "--cache", "off"}, fast...)...)
	sameTree(t, filepath.Join(dir, "m-30.zip"), filepath.Join(dir, "single.zip"))
}

// TestSummaryReportAndCard: stdout is a short summary (no kept indices);
// report.json has the plan, the command, engine, version and the source
// files' SHA-256; the expert's README.md is its own model card.
func TestSummaryReportAndCard(t *testing.T) {
	src := tinyModel(t, "qwen2")
	os.WriteFile(filepath.Join(src, "README.md"), []byte("# The source model\nFFN width 160, 136K parameters.\n"), 0o644)
	out := filepath.Join(t.TempDir(), "expert")
	args := append([]string{"prune", "--model", src, "--ratio", "0.25", "--out", out}, fast...)
	stdout, errs, code := call(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var sum map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	if _, ok := sum["plan"]; ok || len(stdout) > 4096 {
		t.Errorf("stdout carries the plan (%d bytes)", len(stdout))
	}
	var sizes struct {
		Before int64 `json:"bytes_before"`
		After  int64 `json:"bytes_after"`
	}
	json.Unmarshal([]byte(stdout), &sizes)
	var onDisk [2]int64
	for i, root := range []string{src, out} {
		for _, b := range readTree(t, root) {
			onDisk[i] += int64(len(b))
		}
	}
	if sizes.Before != onDisk[0] || sizes.After != onDisk[1] || sizes.After >= sizes.Before {
		t.Errorf("sizes before/after %d/%d, on disk %d/%d", sizes.Before, sizes.After, onDisk[0], onDisk[1])
	}
	for _, k := range []string{"params_before", "params_after", "pruned", "retention", "report"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	b, err := os.ReadFile(ReportPath(out))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Plan    json.RawMessage   `json:"plan"`
		Command []string          `json:"command"`
		Engine  string            `json:"engine"`
		Version string            `json:"version"`
		Sources map[string]string `json:"source_sha256"`
		Eval    map[string]struct {
			PPLBefore float64 `json:"ppl_before"`
		} `json:"eval"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Plan) < 10 || strings.Join(rep.Command, " ") != "cusprun "+strings.Join(args, " ") || rep.Engine != "cpu" || !strings.HasPrefix(rep.Version, Version) {
		t.Errorf("report: plan %d bytes, command %v, engine %q, version %q", len(rep.Plan), rep.Command, rep.Engine, rep.Version)
	}
	ents, _ := os.ReadDir(src)
	if len(rep.Sources) != len(ents) {
		t.Errorf("report hashes %d source files, the folder has %d", len(rep.Sources), len(ents))
	}
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(src, e.Name()))
		h := sha256.Sum256(data)
		if rep.Sources[e.Name()] != hex.EncodeToString(h[:]) {
			t.Errorf("%s: report says %s", e.Name(), rep.Sources[e.Name()])
		}
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"src-qwen2", "language de", "cusprun, uniform", "| 0 | 160 → ", "retention", Version} {
		if !strings.Contains(string(card), want) {
			t.Errorf("model card lacks %q:\n%s", want, card)
		}
	}
	if strings.Contains(string(card), "The source model") {
		t.Error("the source's README was copied")
	}
	for _, name := range []string{"", "README.md", "model.safetensors"} {
		st, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if st.IsDir() {
			want = 0o755
		}
		if st.Mode().Perm() != want&^umask() {
			t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), want&^umask())
		}
	}
}

// TestQuietVersionHelp: --quiet prints nothing on stderr; --version and
// -h answer on stdout.
func TestQuietVersionHelp(t *testing.T) {
	src := tinyModel(t, "llama")
	out := filepath.Join(t.TempDir(), "e")
	stdout, errs, code := call(append([]string{"prune", "--model", src, "--ratio", "0.2", "--out", out, "--quiet"}, fast...)...)
	if code != 0 || errs != "" || !strings.Contains(stdout, "params_after") {
		t.Errorf("--quiet: exit %d, stderr %q", code, errs)
	}
	Quiet = false
	if stdout, _, code := call("--version"); code != 0 || !strings.HasPrefix(stdout, "cusprun "+Version) {
		t.Errorf("--version: %q", stdout)
	}
	if stdout, errs, code := call("prune", "-h"); code != 0 || !strings.Contains(stdout, "-ratio") || errs != "" {
		t.Errorf("prune -h: exit %d, stdout %d bytes, stderr %q", code, len(stdout), errs)
	}
}

// TestDomainSynonyms: a corpus tagged "legal" calibrates --domain law and
// --domain legal alike.
func TestDomainSynonyms(t *testing.T) {
	src := tinyModel(t, "llama")
	dir := t.TempDir()
	corpus := filepath.Join(dir, "legal.jsonl")
	os.WriteFile(corpus, []byte(`{"text":"Der Mieter haftet für Schäden an der Wohnung nach den Regeln des Mietvertrags.","language":"de","domain":"legal"}`+"\n"), 0o644)
	var outs []string
	for _, d := range []string{"law", "legal"} {
		out := filepath.Join(dir, d)
		mustCall(t, "prune", "--model", src, "--ratio", "0.2", "--domain", d, "--corpus", corpus, "--builtin=false",
			"--eval=false", "--max-tokens", "48", "--cache", "off", "--out", out)
		outs = append(outs, out)
	}
	sameTree(t, outs[0], outs[1])
}

// TestRefitIsTheDefault: a plain prune refits the kept weights (the report
// and the card say so, the weights differ from --compensate=false's, the
// shapes do not); at ratio 0 nothing is removed, so nothing is refitted and
// the default writes exactly what --compensate=false writes.
func TestRefitIsTheDefault(t *testing.T) {
	src := tinyModel(t, "llama")
	dir := t.TempDir()
	run := func(out string, extra ...string) map[string]json.RawMessage {
		return mustCall(t, append(append([]string{"prune", "--model", src, "--out", filepath.Join(dir, out), "--cache", "off", "--eval=false"}, fast...), extra...)...)
	}
	def := run("default", "--ratio", "0.3")
	plain := run("plain", "--ratio", "0.3", "--compensate=false")
	if _, ok := def["seconds"]; !ok {
		t.Fatalf("no timings in %v", def)
	}
	var secs map[string]float64
	json.Unmarshal(def["seconds"], &secs)
	if _, ok := secs["compensate"]; !ok {
		t.Errorf("the default prune did not refit: timings %v", secs)
	}
	var plainSecs map[string]float64
	json.Unmarshal(plain["seconds"], &plainSecs)
	if _, ok := plainSecs["compensate"]; ok {
		t.Errorf("--compensate=false refitted: timings %v", plainSecs)
	}
	a, b := readTree(t, filepath.Join(dir, "default")), readTree(t, filepath.Join(dir, "plain"))
	if bytes.Equal(a["model.safetensors"], b["model.safetensors"]) || len(a["model.safetensors"]) != len(b["model.safetensors"]) {
		t.Errorf("default %d bytes, plain %d: want the same size and other weights", len(a["model.safetensors"]), len(b["model.safetensors"]))
	}
	if !bytes.Contains(a["README.md"], []byte("refitted")) || bytes.Contains(b["README.md"], []byte("refitted")) {
		t.Errorf("the cards do not say which expert was refitted")
	}
	run("zero", "--ratio", "0")
	run("zero-plain", "--ratio", "0", "--compensate=false")
	sameTree(t, filepath.Join(dir, "zero"), filepath.Join(dir, "zero-plain"))
	if z := readTree(t, filepath.Join(dir, "zero")); bytes.Contains(z["README.md"], []byte("refitted")) {
		t.Errorf("the card of a ratio-0 expert says it was refitted")
	}
}
