package prune

import (
	"math/rand/v2"
	"testing"

	"github.com/cusprun/cusprun/core/synth"
)

// TestCheckUniformIsSelectsRefusal: before any scoring, CheckUniform
// refuses exactly the ratios Select refuses once the scores are there,
// with and without attention groups, on two families' shapes; and the
// sweep reaches ratios on both sides.
func TestCheckUniformIsSelectsRefusal(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 1))
	for _, fam := range []string{"llama", "phi3"} {
		c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		sc := randomUnitScores(r, c)
		for _, ffnOnly := range []bool{false, true} {
			accepted, refused := 0, 0
			for i := 0; i <= 180; i++ {
				ratio := float64(i) / 200
				_, selErr := Select(c, sc, "cusprun", ratio, "uniform", ffnOnly)
				chkErr := CheckUniform(c, ratio, ffnOnly)
				if (selErr == nil) != (chkErr == nil) {
					t.Fatalf("%s ffnOnly=%v ratio %v: Select says %v, CheckUniform %v", fam, ffnOnly, ratio, selErr, chkErr)
				}
				if chkErr == nil {
					accepted++
				} else {
					refused++
				}
			}
			if accepted == 0 || refused == 0 {
				t.Errorf("%s ffnOnly=%v: %d ratios accepted, %d refused; the sweep should reach both", fam, ffnOnly, accepted, refused)
			}
		}
	}
}
