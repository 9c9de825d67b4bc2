package cli

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestListQuantsArePruneable: every tensor-type choice `cusprun list`
// names writes a GGUF expert that opens again (a tiny llama at 0.3).
func TestListQuantsArePruneable(t *testing.T) {
	var quants []string
	if err := json.Unmarshal(mustCall(t, "list")["quants"], &quants); err != nil || len(quants) < 2 {
		t.Fatalf("list gives quants %v (%v)", quants, err)
	}
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	for _, q := range quants {
		out := filepath.Join(dir, q+".gguf")
		mustCall(t, "prune", "--model", src, "--language", "de", "--ratio", "0.3", "--format", "gguf", "--quant", q,
			"--out", out, "--eval=false", "--max-docs", "4", "--max-tokens", "32", "--cache", "off")
		mustCall(t, "logits", "--model", out, "--ids", "1,2,3")
	}
}
