package safetensors

import (
	"fmt"

	"github.com/cusprun/cusprun/core/tensor"
)

// RowBytes is the size in bytes of one row of the 2-D view (Rows x Cols).
func (t Tensor) RowBytes() int64 { return t.Info.RowBytes() }

// ReadRaw reads rows [rowStart, rowStart+rowCount) of the tensor seen as a
// Rows x Cols matrix, as stored in the file.
func (t Tensor) ReadRaw(rowStart, rowCount int) ([]byte, error) {
	if t.Src == nil {
		return nil, fmt.Errorf("tensor %q has no source", t.Name)
	}
	return tensor.ReadRaw(t.Src, t.Info, rowStart, rowCount)
}

// ReadF32 reads rows [rowStart, rowStart+rowCount) into dst as float32;
// len(dst) must be rowCount*Cols. It reads through a bounded scratch buffer,
// so reading a whole large tensor costs no more than dst itself.
func (t Tensor) ReadF32(dst []float32, rowStart, rowCount int) error {
	if t.Src == nil {
		return fmt.Errorf("tensor %q has no source", t.Name)
	}
	return tensor.ReadF32(t.Src, t.Info, dst, rowStart, rowCount)
}
