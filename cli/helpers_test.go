package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// synthSource writes a synthetic model of family and shape (its config
// changed by edit, when given) as a bf16 Hugging Face folder dir/src, and
// returns the folder.
func synthSource(t *testing.T, dir, family, shape string, edit func(*model.Config)) string {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: family, Shape: shape})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(c)
	}
	src := filepath.Join(dir, "src")
	if err := synth.WriteHF(src, c, 3, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	return src
}

// editJSON rewrites the JSON object in the file at path as edit changes it.
func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
