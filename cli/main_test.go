package cli

import (
	"os"
	"testing"
)

// TestMain keeps the score cache of every test run in a folder of its own,
// so tests neither read nor fill the user's cache.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cusprun-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("CUSPRUN_CACHE", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
