package job

import (
	"strings"
	"testing"
)

// The model card says when the kept weights were refitted, and only then.
func TestCardSaysCompensation(t *testing.T) {
	r := &Result{Family: "llama", Method: "cusprun", Placement: "uniform", Ratio: 0.2, Target: map[string]string{"language": "de"}}
	for _, comp := range []bool{false, true} {
		got := string(card(r, Options{Compensate: comp}).Data)
		if says := strings.Contains(got, "least-squares compensation") && strings.Contains(got, "refitted by least squares"); says != comp {
			t.Errorf("compensate %v: the card mentions the refit: %v\n%s", comp, says, got)
		}
	}
}
