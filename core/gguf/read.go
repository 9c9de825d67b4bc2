package gguf

import (
	"fmt"

	"github.com/cusprun/cusprun/core/tensor"
)

// RowBytes is the size in bytes of one row of the 2-D view (Rows x Cols).
// Rows of a block type are whole blocks (Parse checks that Cols is a
// multiple of the block length).
func (t Tensor) RowBytes() int64 {
	blk, nb, ok := t.Type.Block()
	if !ok {
		return 0
	}
	return int64(t.Cols()) / blk * nb
}

func (t Tensor) check() error {
	if t.Src == nil {
		return fmt.Errorf("tensor %q has no source", t.Name)
	}
	if !t.Supported() {
		return fmt.Errorf("%s: tensor %q has GGML type %s (%d), which cusprun cannot read (it reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K to Q6_K, IQ4_NL and IQ4_XS)", t.Src.Name(), t.Name, t.Type, uint32(t.Type))
	}
	return nil
}

// ReadRaw reads rows [rowStart, rowStart+rowCount) of the tensor seen as a
// Rows x Cols matrix, as stored in the file.
func (t Tensor) ReadRaw(rowStart, rowCount int) ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return tensor.ReadRaw(t.Src, t.Info, rowStart, rowCount)
}

// ReadF32 reads rows [rowStart, rowStart+rowCount) into dst as float32;
// len(dst) must be rowCount*Cols. It reads through a bounded scratch buffer,
// so reading a whole large tensor costs no more than dst itself.
func (t Tensor) ReadF32(dst []float32, rowStart, rowCount int) error {
	if err := t.check(); err != nil {
		return err
	}
	return tensor.ReadF32(t.Src, t.Info, dst, rowStart, rowCount)
}
