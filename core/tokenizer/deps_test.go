package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// depsDir is where tools/tokref/setup.sh put the references: $CUSPRUN_DEPS,
// else <repo>/.deps. Missing references fail the test under CI=true and skip
// it otherwise.
func depsDir(t testing.TB, need ...string) string {
	t.Helper()
	dir := os.Getenv("CUSPRUN_DEPS")
	if dir == "" {
		abs, err := filepath.Abs(filepath.Join("..", "..", ".deps"))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	for _, n := range need {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			msg := "reference " + n + " missing under " + dir + ": run tools/tokref/setup.sh (or set CUSPRUN_DEPS)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return dir
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
