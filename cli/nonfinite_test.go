package cli

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNonFiniteResult: weights that overflow (an infinite final norm weight
// makes the logits NaN) give one line saying so, and nothing on stdout,
// rather than the JSON encoder's complaint.
func TestNonFiniteResult(t *testing.T) {
	src := synthSource(t, t.TempDir(), "llama", "tiny", nil)
	p := filepath.Join(src, "model.safetensors")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	var norm struct {
		DType   string `json:"dtype"`
		Offsets [2]int `json:"data_offsets"`
	}
	if err := json.Unmarshal(hdr["model.norm.weight"], &norm); err != nil || norm.DType != "BF16" {
		t.Fatalf("model.norm.weight: %s, %v", hdr["model.norm.weight"], err)
	}
	binary.LittleEndian.PutUint16(b[8+int(n)+norm.Offsets[0]:], 0x7f80) // +Inf in bfloat16
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := call("logits", "--model", src, "--ids", "1,2,3")
	if code == 0 || out != "" || !strings.Contains(errs, "is no number") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want one line saying the result is no number", code, out, errs)
	}
}
