package prune

import (
	"bytes"
	"fmt"

	"github.com/cusprun/cusprun/core/model"
)

// Verify re-opens a written expert and checks it against the plan: the
// architecture has the planned widths, and every tensor holds exactly the
// bytes the plan says (the slicer's tensor in the output's dtype). A
// mismatch is an error.
func Verify(path string, s *Slicer) error {
	out, err := model.OpenPath(path)
	if err != nil {
		return fmt.Errorf("verify: the output does not open: %w", err)
	}
	return VerifyModel(out, s)
}

// VerifyModel is Verify on an output already opened (the browser re-opens
// what it wrote from a Blob, not a path).
func VerifyModel(out *model.Model, s *Slicer) error {
	to, got := s.Plan.To, out.Config
	if got.Layers != to.Layers || got.Hidden != to.Hidden || got.Vocab != to.Vocab || got.HeadDim != to.HeadDim {
		return fmt.Errorf("verify: output has %d layers, hidden %d, vocab %d, head dim %d; planned %d, %d, %d, %d",
			got.Layers, got.Hidden, got.Vocab, got.HeadDim, to.Layers, to.Hidden, to.Vocab, to.HeadDim)
	}
	for l := 0; l < to.Layers; l++ {
		if got.FFNAt(l) != to.FFNAt(l) || got.KVHeadsAt(l) != to.KVHeadsAt(l) || got.HeadsAt(l) != to.HeadsAt(l) {
			return fmt.Errorf("verify: layer %d has FFN %d and %d/%d heads; planned %d and %d/%d",
				l, got.FFNAt(l), got.HeadsAt(l), got.KVHeadsAt(l), to.FFNAt(l), to.HeadsAt(l), to.KVHeadsAt(l))
		}
		L, err := out.LoadLayer(l)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for role, w := range layerRoles(L) {
			if w == nil {
				continue
			}
			want, err := s.Tensor(role, l)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			if err := sameTensor(w, want); err != nil {
				return fmt.Errorf("verify: layer %d %s: %w", l, w.Name, err)
			}
		}
	}
	for _, r := range []model.Role{model.RoleFinalNorm, model.RoleEmbed} {
		w, err := out.ReadRole(r, -1)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		want, err := s.Tensor(r, -1)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if err := sameTensor(w, want); err != nil {
			return fmt.Errorf("verify: %s: %w", w.Name, err)
		}
	}
	return nil
}

// sameTensor compares a written tensor with the planned one, in the
// written tensor's dtype.
func sameTensor(got, want *model.Weight) error {
	if got.Rows*got.Cols != want.Rows*want.Cols {
		return fmt.Errorf("has %dx%d values, planned %dx%d", got.Rows, got.Cols, want.Rows, want.Cols)
	}
	wb, err := want.As(got.DType)
	if err != nil {
		return err
	}
	if !bytes.Equal(got.Raw, wb) {
		return fmt.Errorf("holds different values than planned")
	}
	return nil
}

// layerRoles lists a loaded layer's weights by role (unfused).
func layerRoles(L *model.Layer) map[model.Role]*model.Weight {
	return map[model.Role]*model.Weight{
		model.RoleAttnNorm: L.AttnNorm, model.RoleAttnNormB: L.AttnNormB,
		model.RoleQ: L.Q, model.RoleK: L.K, model.RoleV: L.V, model.RoleO: L.O,
		model.RoleQB: L.QB, model.RoleKB: L.KB, model.RoleVB: L.VB, model.RoleOB: L.OB,
		model.RoleQNorm: L.QNorm, model.RoleKNorm: L.KNorm,
		model.RoleFFNNorm: L.FFNNorm, model.RoleFFNNormB: L.FFNNormB,
		model.RoleGate: L.Gate, model.RoleUp: L.Up, model.RoleDown: L.Down,
		model.RoleUpB: L.UpB, model.RoleDownB: L.DownB,
	}
}
