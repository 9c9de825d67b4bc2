package model_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestSlidingWindow: phi3's sliding_window (2047 in Phi-3-mini-4k) is
// read, written back by the export, and caps the documents the forward
// takes (it attends to the whole document, the same as the window only up
// to the window's length); so are a mistral's and Qwen's (use_sliding_window
// or layer_types), whichever layers use it. A window in use but not given,
// or a layer type this engine does not run, is refused in one line; a
// window given but not in use changes nothing.
func TestSlidingWindow(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "phi3", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	c.Window = 16
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 1, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Window != 16 || m.Config.Context() != 16 {
		t.Fatalf("window %d, context %d; want 16 and 16 (max_position_embeddings %d)", m.Config.Window, m.Config.Context(), m.Config.MaxPos)
	}
	ids := make([]int, 17)
	for i := range ids {
		ids[i] = 3 + i
	}
	if _, err := m.LastLogits(model.CPU{}, ids[:16]); err != nil {
		t.Fatalf("16 tokens in a window of 16: %v", err)
	}
	if _, err := m.LastLogits(model.CPU{}, ids); err == nil || !strings.Contains(err.Error(), "more than the model's sliding window of 16") {
		t.Fatalf("17 tokens in a window of 16: %v", err)
	}

	for _, b := range []struct {
		family string
		edit   func(map[string]any)
		want   string
	}{
		{"qwen2", func(m map[string]any) { m["use_sliding_window"] = true; m["sliding_window"] = 8 }, "window 8"},
		{"qwen3", func(m map[string]any) { m["use_sliding_window"] = true }, "qwen3 uses sliding-window attention but gives no sliding_window"},
		{"llama", func(m map[string]any) { m["model_type"] = "mistral"; m["sliding_window"] = 8 }, "window 8"},
		{"llama", func(m map[string]any) { m["model_type"] = "mistral"; m["sliding_window"] = nil }, ""},
		{"qwen2", func(m map[string]any) { m["use_sliding_window"] = false; m["sliding_window"] = 32 }, ""},
		{"qwen3", func(m map[string]any) {
			m["layer_types"] = []string{"full_attention", "sliding_attention"}
			m["sliding_window"] = 8
		}, "window 8"},
		{"qwen3", func(m map[string]any) { m["layer_types"] = []string{"full_attention", "chunked_attention"} }, `qwen3 layer 1 has layer_types "chunked_attention"`},
		{"qwen3", func(m map[string]any) {
			m["layer_types"] = []string{"full_attention", "full_attention"}
			m["sliding_window"] = 8
		}, ""},
	} {
		c, _ := synth.Config(synth.Options{Family: b.family, Shape: "tiny"})
		dir := filepath.Join(t.TempDir(), "m")
		if err := synth.WriteHF(dir, c, 1, tensor.BF16, ""); err != nil {
			t.Fatal(err)
		}
		editConfig(t, dir, b.edit)
		m, err := model.OpenPath(dir)
		switch {
		case b.want == "window 8":
			if err != nil || m.Config.Window != 8 || m.Config.Context() != 8 {
				t.Errorf("%s with sliding_window 8: %v", b.family, err)
			}
		case b.want == "" && err != nil:
			t.Errorf("%s: %v", b.family, err)
		case b.want == "" && m.Config.Window != 0:
			t.Errorf("%s: window %d, want none", b.family, m.Config.Window)
		case b.want != "" && (err == nil || !strings.Contains(err.Error(), b.want)):
			t.Errorf("%s: error %v; want %q", b.family, err, b.want)
		}
	}
}
