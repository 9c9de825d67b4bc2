package cli

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestRepeatedTargetFlags: --language de --language fr is --language de,fr
// (the same calibration, the same expert), not the last flag alone.
func TestRepeatedTargetFlags(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	prune := func(name string, target ...string) (map[string][]byte, string) {
		out := filepath.Join(dir, name)
		res := mustCall(t, append([]string{"prune", "--model", src, "--ratio", "0.3", "--eval=false", "--out", out}, target...)...)
		return readTree(t, out), string(res["calibration"])
	}
	want, wantCal := prune("list", "--language", "de,fr", "--domain", "law,medicine")
	got, gotCal := prune("repeated", "--language", "de", "--language", "fr", "--domain", "law", "--domain", "medicine")
	_, lastCal := prune("last", "--language", "fr", "--domain", "medicine")
	if gotCal != wantCal {
		t.Fatalf("repeated flags calibrate on %s, the comma list on %s", gotCal, wantCal)
	}
	if lastCal == wantCal {
		t.Fatalf("the last flag alone calibrates on as much as both (%s): the test cannot tell them apart", lastCal)
	}
	for f, b := range want {
		if f != "README.md" && !bytes.Equal(got[f], b) {
			t.Errorf("%s differs between repeated flags and the comma list", f)
		}
	}
}
