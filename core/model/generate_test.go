package model_test

import (
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestGenerateCacheMatchesFullPass checks that greedy generation with the
// KV cache picks, at every step, the argmax of a full pass over the whole
// sequence so far.
func TestGenerateCacheMatchesFullPass(t *testing.T) {
	for _, fam := range synth.Families {
		t.Run(fam, func(t *testing.T) {
			c, _ := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
			dir := filepath.Join(t.TempDir(), "m")
			if err := synth.WriteHF(dir, c, 4, tensor.BF16, ""); err != nil {
				t.Fatal(err)
			}
			m, err := model.OpenPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			prompt := []int{1, 300, 270, 281}
			got, err := m.Generate(prompt, 8, 0, 1, -1, nil)
			if err != nil {
				t.Fatal(err)
			}
			seq := append([]int(nil), prompt...)
			for i, id := range got {
				l, err := m.LastLogits(model.CPU{}, seq)
				if err != nil {
					t.Fatal(err)
				}
				best := 0
				for v := range l {
					if l[v] > l[best] {
						best = v
					}
				}
				if best != id {
					t.Fatalf("step %d: cached generation chose %d, a full pass %d", i, id, best)
				}
				seq = append(seq, id)
			}
		})
	}
}
