package tokenizer

import (
	"sync"
	"testing"
)

// TestConcurrentEncode: one Tokenizer used from many goroutines gives the
// same ids as from one (run with -race to check the word cache).
func TestConcurrentEncode(t *testing.T) {
	for _, p := range []string{"testdata/mini-bytelevel.json", "testdata/mini-spm.json"} {
		tk, err := LoadPath(p)
		if err != nil {
			t.Fatal(err)
		}
		texts := []string{"Hello world, hello world!", "Grüße aus München 中文", "  spaces\n\nand lines  ", "the quick brown fox the quick brown fox"}
		want := make([][]int, len(texts))
		for i, s := range texts {
			want[i] = tk.Encode(s, EncodeOptions{})
		}
		tk.mu.Lock()
		clear(tk.cache)
		tk.mu.Unlock()
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 50; k++ {
					for i, s := range texts {
						if got := tk.Encode(s, EncodeOptions{}); !equalInts(got, want[i]) {
							t.Errorf("%s: %q gave %v, want %v", p, s, got, want[i])
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	}
}
