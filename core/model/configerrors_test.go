package model_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestConfigErrorsNameTheKey: a config.json value of the wrong JSON type,
// or a norm epsilon no model has, is refused in one line naming the key as
// the file spells it (not the Go struct it is read into).
func TestConfigErrorsNameTheKey(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "m")
	if err := synth.WriteHF(dir, c, 1, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.ParseHFConfig(good); err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		edit func(map[string]any)
		want string
	}{
		{func(m map[string]any) { m["tie_word_embeddings"] = "yes" }, "tie_word_embeddings is a JSON string, want a boolean"},
		{func(m map[string]any) { m["num_attention_heads"] = 4.5 }, "num_attention_heads is a JSON number 4.5, want a whole number"},
		{func(m map[string]any) { m["num_key_value_heads"] = "2" }, "num_key_value_heads is a JSON string, want a whole number"},
		{func(m map[string]any) { m["intermediate_size"] = []int{1} }, "intermediate_size is a JSON array, want a whole number"},
		{func(m map[string]any) { m["rope_scaling"] = map[string]any{"type": "linear", "factor": "x"} }, "rope_scaling: factor is a JSON string, want a number"},
		{func(m map[string]any) { m["rms_norm_eps"] = -1 }, "norm epsilon -1"},
		{func(m map[string]any) { m["rms_norm_eps"] = 3 }, "norm epsilon 3"},
	} {
		var m map[string]any
		json.Unmarshal(good, &m)
		k.edit(m)
		b, _ := json.Marshal(m)
		_, err := model.ParseHFConfig(b)
		if err == nil || !strings.Contains(err.Error(), k.want) || strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %v; want one line with %q", err, k.want)
		}
	}
}
