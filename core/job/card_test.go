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

// TestExpertName: a GGUF expert's general.name says its source, target and
// ratio; a source file's extension goes, a folder's dots stay.
func TestExpertName(t *testing.T) {
	for _, c := range []struct {
		o     Options
		ratio float64
		want  string
	}{
		{Options{SourceName: "Qwen2.5-0.5B-Instruct", Language: "de", Domain: "law"}, 0.3, "Qwen2.5-0.5B-Instruct de+law expert (cusprun 0.3)"},
		{Options{SourceName: "tiny.Q4_K_M.gguf", Language: "de,fr", Task: "qa"}, 0.25, "tiny.Q4_K_M de+fr+qa expert (cusprun 0.25)"},
		{Options{SourceName: "expert.ZIP", Domain: "any"}, 0.2, "expert expert (cusprun 0.2)"},
		{Options{}, 0.5, "expert (cusprun 0.5)"},
	} {
		if got := expertName(c.o, c.ratio); got != c.want {
			t.Errorf("expertName(%+v, %v) = %q, want %q", c.o, c.ratio, got, c.want)
		}
	}
}
