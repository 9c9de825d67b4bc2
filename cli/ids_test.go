package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestParseIDs: ids as people paste them (commas, spaces, tokenize's own
// JSON list) are read; anything else names the flag and the bad item.
func TestParseIDs(t *testing.T) {
	for in, want := range map[string][]int{
		"1,2,3": {1, 2, 3}, "1, 2, 3": {1, 2, 3}, "1 2\t3\n": {1, 2, 3}, "[1,2,3]": {1, 2, 3}, " [ 7 ] ": {7}, "1,2,": {1, 2},
	} {
		got, err := parseIDs("--ids", in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":        "--ids: give at least one token id",
		"[]":      "--ids: give at least one token id",
		"1;2":     `--ids: "1;2" is not a token id`,
		"[1,2":    `--ids: "[1" is not a token id`,
		"1,two,3": `--ids: "two" is not a token id`,
		"1.5":     `--ids: "1.5" is not a token id`,
	} {
		if _, err := parseIDs("--ids", in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	// tokenize's output goes back in as it is printed.
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	out := mustCall(t, "tokenize", "--tokenizer", src, "--text", "Guten Morgen, Welt")
	back := mustCall(t, "tokenize", "--tokenizer", src, "--decode", string(out["ids"]))
	if string(back["text"]) != `"Guten Morgen, Welt"` {
		t.Errorf("decode of tokenize's ids %s gave %s", out["ids"], back["text"])
	}
}
