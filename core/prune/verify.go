package prune

import (
	"bytes"
	"crypto/sha256"
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
		for _, rw := range L.Weights() {
			w := rw.W
			want, err := s.Tensor(rw.Role, l)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			if err := sameTensor(w, want); err != nil {
				return fmt.Errorf("verify: layer %d %s: %w", l, w.Name, err)
			}
		}
	}
	for _, sp := range to.Specs() {
		if sp.Layer >= 0 {
			continue // the layers were compared above
		}
		if err := sameGlobal(out, s, sp.Role); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
	}
	return nil
}

// sameGlobal compares a global tensor (the embedding can be hundreds of MB)
// by hashing: the planned bytes are hashed and dropped, then the written
// tensor is read and hashed in chunks of rows, so at most one copy is held.
func sameGlobal(out *model.Model, s *Slicer, r model.Role) error {
	name := out.TensorName(r, -1)
	info, ok := out.Store.Lookup(name)
	if !ok {
		return fmt.Errorf("tensor %s is missing from the output", name)
	}
	want, err := s.Tensor(r, -1)
	if err != nil {
		return err
	}
	if int64(want.Rows)*int64(want.Cols) != info.Elems() {
		return fmt.Errorf("%s has %d values, planned %d", name, info.Elems(), want.Rows*want.Cols)
	}
	wb, err := want.As(info.DType)
	if err != nil {
		return err
	}
	wantSum := sha256.Sum256(wb)
	wb, want = nil, nil
	h := sha256.New()
	rows := info.Rows()
	step := max(1, int((64<<20)/max(info.RowBytes(), 1)))
	for lo := 0; lo < rows; lo += step {
		b, err := out.Store.ReadRows(name, lo, min(step, rows-lo))
		if err != nil {
			return err
		}
		h.Write(b)
	}
	if !bytes.Equal(h.Sum(nil), wantSum[:]) {
		return fmt.Errorf("%s holds different values than planned", name)
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
