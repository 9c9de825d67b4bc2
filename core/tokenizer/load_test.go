package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/source"
)

// TestLoadSaysWhatIsMissing: a folder without tokenizer.json or a GGUF
// gets one line naming what it has instead (a slow tokenizer's
// tokenizer.model or vocab.json) and how to make tokenizer.json.
func TestLoadSaysWhatIsMissing(t *testing.T) {
	for files, want := range map[string]string{
		"config.json tokenizer.model": "no tokenizer.json, only tokenizer.model, which cusprun does not read: write tokenizer.json with transformers",
		"config.json vocab.json":      "no tokenizer.json, only vocab.json",
		"config.json":                 "no tokenizer found: neither tokenizer.json nor a .gguf file",
	} {
		dir := t.TempDir()
		for _, n := range strings.Fields(files) {
			os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644)
		}
		f, err := source.OpenPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Load(f)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v; want one line containing %q", files, err, want)
		}
	}
}
