package prune

import (
	"fmt"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// Slicer yields the pruned model's tensors, one layer in memory at a time,
// in Hugging Face row order (exporters reorder for their format).
type Slicer struct {
	M    *model.Model
	Plan *Plan
	// Source is the model's folder, for the small files an export copies.
	Source source.Folder
	// Compensate, when set (FLAP), returns per layer the mean input of each
	// down_proj and o_proj column, so removed columns' average contribution
	// moves into the output biases where the family has them.
	Compensate func(l int) (ffnMean, oMean []float64)
	// Refit, when set, replaces o_proj, down_proj and their biases by the
	// least-squares refit computed for this plan (compensate.go); it
	// supersedes Compensate.
	Refit *Compensation

	// Actions records, per GGUF output tensor, what the export did to it
	// (ActionCopied, ActionRequantized, ...) and the type written.
	Actions map[string]string

	cur    int
	tensor map[model.Role]*model.Weight
}

// Tensor returns the pruned tensor for a role of the output config.
func (s *Slicer) Tensor(r model.Role, l int) (*model.Weight, error) {
	if l < 0 {
		if s.Plan.KeepVocab != nil && vocabRole(r) {
			return s.vocabTensor(r)
		}
		return s.M.ReadRole(r, l)
	}
	if s.tensor == nil || s.cur != l {
		if err := s.load(l); err != nil {
			return nil, err
		}
	}
	w, ok := s.tensor[r]
	if !ok {
		return nil, fmt.Errorf("layer %d has no %s tensor", l, r)
	}
	return w, nil
}

// heads lists the query heads and KV heads of the kept groups.
func heads(groups []int, grp int) (q, kv []int) {
	for _, u := range groups {
		kv = append(kv, u)
		for h := u * grp; h < (u+1)*grp; h++ {
			q = append(q, h)
		}
	}
	return
}

// dims expands head indices into row (or column) indices of width hd.
func dims(hs []int, hd int) []int {
	var out []int
	for _, h := range hs {
		for i := h * hd; i < (h+1)*hd; i++ {
			out = append(out, i)
		}
	}
	return out
}

func (s *Slicer) load(l int) error {
	L, err := s.M.LoadLayer(l)
	if err != nil {
		return err
	}
	c, p := s.M.Config, s.Plan
	hd := c.HeadDim
	qh, kvh := heads(p.KeepGroups[l], c.Group())
	qr, kvr := dims(qh, hd), dims(kvh, hd)
	f := p.KeepFFN[l]
	// Every weight of the layer, then the ones pruning cuts (norms and the
	// output biases stay whole).
	t := map[model.Role]*model.Weight{}
	for _, rw := range L.Weights() {
		t[rw.Role] = rw.W
	}
	vec := func(w *model.Weight, keep []int) *model.Weight {
		if w == nil {
			return nil
		}
		return w.SelectCols(keep)
	}
	t[model.RoleQ], t[model.RoleK], t[model.RoleV] = L.Q.SelectRows(qr), L.K.SelectRows(kvr), L.V.SelectRows(kvr)
	t[model.RoleQB], t[model.RoleKB], t[model.RoleVB] = vec(L.QB, qr), vec(L.KB, kvr), vec(L.VB, kvr)
	t[model.RoleO] = L.O.SelectCols(qr)
	t[model.RoleUp], t[model.RoleUpB] = L.Up.SelectRows(f), vec(L.UpB, f)
	if L.Gate != nil {
		t[model.RoleGate] = L.Gate.SelectRows(f)
	}
	t[model.RoleDown] = L.Down.SelectCols(f)
	if s.Compensate != nil && (L.DownB != nil || L.OB != nil) {
		ffnMean, oMean := s.Compensate(l)
		if L.DownB != nil {
			t[model.RoleDownB] = compensate(L.DownB, L.Down, ffnMean, f)
		}
		if L.OB != nil {
			t[model.RoleOB] = compensate(L.OB, L.O, oMean, qr)
		}
	}
	if s.Refit != nil {
		if s.Refit.plan != p {
			return fmt.Errorf("the compensation was computed for another plan than the slicer's")
		}
		for _, r := range []model.Role{model.RoleO, model.RoleOB, model.RoleDown, model.RoleDownB} {
			w, ok, err := s.Refit.weight(l, r)
			if err != nil {
				return err
			}
			if ok {
				t[r] = w
			}
		}
	}
	if c.Family == "phi3" {
		t[model.RoleQKV] = model.ConcatRows(L.Q.Name, t[model.RoleQ], t[model.RoleK], t[model.RoleV])
		t[model.RoleGateUp] = model.ConcatRows(L.Up.Name, t[model.RoleGate], t[model.RoleUp])
	}
	s.cur, s.tensor = l, t
	return nil
}

// compensate adds to a bias the mean contribution of the columns of w that
// are not kept: b_i += sum_{j removed} W[i,j] * mean_j (FLAP).
func compensate(b, w *model.Weight, mean []float64, keep []int) *model.Weight {
	kept := make([]bool, w.Cols)
	for _, j := range keep {
		kept[j] = true
	}
	bias := append([]float32(nil), b.F32()...)
	wf := w.F32()
	for i := 0; i < w.Rows; i++ {
		var add float64
		for j := 0; j < w.Cols; j++ {
			if !kept[j] {
				add += float64(wf[i*w.Cols+j]) * mean[j]
			}
		}
		bias[i] += float32(add)
	}
	raw, _ := tensor.Encode(nil, bias, b.DType)
	if b.DType.Quantized() {
		raw, _ = tensor.Encode(nil, bias, tensor.F32)
		return &model.Weight{Name: b.Name, DType: tensor.F32, Rows: 1, Cols: len(bias), Raw: raw}
	}
	return &model.Weight{Name: b.Name, DType: b.DType, Rows: 1, Cols: len(bias), Raw: raw}
}
