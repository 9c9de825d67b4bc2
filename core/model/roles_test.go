package model_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestRoleString checks every role's name against the GGUF naming (a table
// of its own): a per-layer role r is stored as blk.N.<r>.weight, a bias
// <x>_bias as blk.N.<x>.bias; the names are distinct.
func TestRoleString(t *testing.T) {
	c, _ := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	seen := map[string]model.Role{}
	for r := model.RoleEmbed; r <= model.RoleDownB; r++ {
		s := r.String()
		if s == "" || strings.HasPrefix(s, "role(") {
			t.Fatalf("role %d has no name", int(r))
		}
		if o, dup := seen[s]; dup {
			t.Fatalf("roles %d and %d are both %q", int(o), int(r), s)
		}
		seen[s] = r
		if r < model.RoleAttnNorm || r == model.RoleGateUp { // global; or stored as ffn_up
			continue
		}
		want := "blk.3." + s + ".weight"
		if b, ok := strings.CutSuffix(s, "_bias"); ok {
			want = "blk.3." + b + ".bias"
		}
		if got := c.GGUFName(r, 3); got != want {
			t.Errorf("%s: GGUF name %q, want %q", s, got, want)
		}
	}
	if got := model.Role(99).String(); got != "role(99)" {
		t.Errorf("an unknown role reads %q", got)
	}
}

// TestLayerWeights checks that a loaded layer's Weights are exactly the
// tensors the config's LayerSpecs list (fused ones as their parts, with the
// parts' rows adding up to the fused shape), and that Weight finds each.
func TestLayerWeights(t *testing.T) {
	for _, fam := range synth.Families {
		c, _ := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
		dir := filepath.Join(t.TempDir(), fam)
		if err := synth.WriteHF(dir, c, 4, tensor.F32, ""); err != nil {
			t.Fatal(err)
		}
		m, err := model.OpenPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		L, err := m.LoadLayer(1)
		if err != nil {
			t.Fatal(err)
		}
		rows := map[model.Role]int{}
		for _, rw := range L.Weights() {
			if rw.W == nil || L.Weight(rw.Role) != rw.W {
				t.Fatalf("%s: Weight(%s) is not the listed weight", fam, rw.Role)
			}
			rows[rw.Role] = rw.W.Rows
		}
		parts := map[model.Role][]model.Role{
			model.RoleQKV:    {model.RoleQ, model.RoleK, model.RoleV},
			model.RoleGateUp: {model.RoleGate, model.RoleUp},
		}
		n := 0
		for _, sp := range c.LayerSpecs(1) {
			ps, fused := parts[sp.Role]
			if !fused {
				ps = []model.Role{sp.Role}
			}
			sum := 0
			for _, p := range ps {
				r, ok := rows[p]
				if !ok {
					t.Fatalf("%s: the layer has no %s (the config lists %s)", fam, p, sp.Role)
				}
				sum += r
				n++
			}
			if len(sp.Shape) == 1 {
				sum = L.Weight(ps[0]).Cols
			}
			if sum != sp.Shape[0] {
				t.Errorf("%s: %s has %d rows (or entries), the config says %v", fam, sp.Role, sum, sp.Shape)
			}
		}
		if n != len(rows) {
			t.Errorf("%s: the layer holds %d weights, the config lists %d", fam, len(rows), n)
		}
		if L.Weight(model.RoleQKV) != nil || L.Weight(model.RoleEmbed) != nil {
			t.Errorf("%s: Weight answers for a role a Layer holds no field for", fam)
		}
	}
}
