package prune

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// triangles reads every matrix of gs back as float64, in Save's order.
func triangles(t *testing.T, gs *Grams) []float64 {
	t.Helper()
	var out []float64
	for _, pair := range gs.layers {
		for _, sg := range pair {
			b := make([]byte, triangle(sg.d))
			if _, err := gs.spill.ReadAt(b, sg.off); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(b); i += 8 {
				out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
			}
		}
	}
	return out
}

// TestGramsSavedAndAddedUp: two parts' matrices, saved and added into an
// empty sum, are their element-wise sums (matrices, column sums, token
// counts) exactly; a sum saved and added again reads back the same; a
// truncated stream, bytes after its end, another model's matrices and
// garbage are refused with errors that say so.
func TestGramsSavedAndAddedUp(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := synth.WriteHF(src, c, 3, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(src)
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(rand.New(rand.NewPCG(4, 4)), 12, 40, c.Vocab)
	ctx := context.Background()
	var parts []*Grams
	var saved [][]byte
	for _, part := range [][][]int{seqs[:5], seqs[5:]} {
		_, gs, err := ScoreWithGrams(ctx, m, model.CPU{}, part, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := gs.Save(&b); err != nil {
			t.Fatal(err)
		}
		parts, saved = append(parts, gs), append(saved, b.Bytes())
	}
	sum := NewGrams(m.Config)
	for _, b := range saved {
		if err := sum.Add(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	a, b, got := triangles(t, parts[0]), triangles(t, parts[1]), triangles(t, sum)
	if len(got) != len(a) || len(a) != len(b) {
		t.Fatalf("%d summed values from parts of %d and %d", len(got), len(a), len(b))
	}
	for i := range got {
		if got[i] != a[i]+b[i] {
			t.Fatalf("value %d: %g, want %g + %g", i, got[i], a[i], b[i])
		}
	}
	if want := parts[0].Tokens() + parts[1].Tokens(); sum.Tokens() != want || want == 0 {
		t.Fatalf("the sum is of %d tokens, the parts of %d", sum.Tokens(), want)
	}
	for l := range sum.layers {
		for k := range sum.layers[l] {
			s, p, q := sum.layers[l][k], parts[0].layers[l][k], parts[1].layers[l][k]
			if s.n != sum.Tokens() {
				t.Fatalf("layer %d matrix %d: %d tokens, layer 0 %d", l, k, s.n, sum.Tokens())
			}
			for i := range s.sum {
				if s.sum[i] != p.sum[i]+q.sum[i] {
					t.Fatalf("layer %d matrix %d: column sum %d is %g, want %g", l, k, i, s.sum[i], p.sum[i]+q.sum[i])
				}
			}
		}
	}
	var again bytes.Buffer
	if err := sum.Save(&again); err != nil {
		t.Fatal(err)
	}
	copied := NewGrams(m.Config)
	if err := copied.Add(bytes.NewReader(again.Bytes())); err != nil {
		t.Fatal(err)
	}
	for i, v := range triangles(t, copied) {
		if v != got[i] {
			t.Fatalf("value %d: %g after a round trip, %g before", i, v, got[i])
		}
	}

	other, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny", Layers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var otherBytes bytes.Buffer
	if err := NewGrams(other).Save(&otherBytes); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated", saved[0][:len(saved[0])-1], "end early"},
		{"trailing bytes", append(append([]byte(nil), saved[0]...), 0), "after the last layer"},
		{"another model", otherBytes.Bytes(), "layers"},
		{"garbage", []byte("not matrices at all"), "Gram matrices"},
		{"empty", nil, "no header"},
	} {
		err := NewGrams(m.Config).Add(bytes.NewReader(bad.b))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one with %q", bad.name, err, bad.want)
		}
	}
}
