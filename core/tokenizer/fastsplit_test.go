package tokenizer

import (
	"math/rand"
	"strings"
	"testing"
)

var fastPatterns = []string{gpt2Pattern, reGPT2, hfLlama3Pattern, reLlama3, hfQwen2Pattern, reQwen2}

// splitAlphabet has a character of every class the patterns tell apart.
var splitAlphabet = []string{
	" ", " ", " ", "\n", "\r", "\t", "\v", "\u00a0", "\u3000", "\u2028", "\u0085",
	"a", "Z", "é", "中", "ж", "ا", "क", "ि", "\u0301", "ß",
	"1", "9", "٣", "Ⅻ", "½", "'", "s", "t", "r", "e", "v", "m", "l", "d", "S", "L", "D", "R", "E",
	"!", ".", ",", "-", "😀", "\u200d", "\ufffd", "\xff", "\xe4\xb8", "_", "$",
}

func randomSplitText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(splitAlphabet[rng.Intn(len(splitAlphabet))])
	}
	return b.String()
}

func checkFast(t *testing.T, s string) {
	t.Helper()
	for _, p := range fastPatterns {
		re, err := compileRegex(p)
		if err != nil {
			t.Fatal(err)
		}
		want := findAll(re, s)
		got := fastFinder(p).find(s)
		if len(got) != len(want) {
			t.Fatalf("pattern %q on %q:\n fast  %v\n regex %v", p, s, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("pattern %q on %q:\n fast  %v\n regex %v", p, s, got, want)
			}
		}
	}
}

func TestFastSplitters(t *testing.T) {
	for _, p := range fastPatterns {
		if fastFinder(p) == nil {
			t.Fatalf("no fast matcher for %q", p)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		checkFast(t, randomSplitText(rng, 1+rng.Intn(24)))
	}
	checkFast(t, "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ 'RE 'll 'LL \n\n \t  x  ")
}

func FuzzFastSplitters(f *testing.F) {
	f.Add("Hello world's 123 4567 \n\n  x")
	f.Add("'S'Ll 're\r\n\t ")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 256 {
			return
		}
		checkFast(t, s)
	})
}
