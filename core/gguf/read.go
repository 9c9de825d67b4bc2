package gguf

import (
	"fmt"

	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// chunkBytes bounds the scratch buffer ReadF32 decodes through.
const chunkBytes = 1 << 20

// RowBytes is the size in bytes of one row of the 2-D view (Rows x Cols).
// Q8_0 rows are whole blocks (Parse checks that Cols is a multiple of 32).
func (t Tensor) RowBytes() int64 {
	blk, nb, ok := t.Type.Block()
	if !ok {
		return 0
	}
	return int64(t.Cols()) / blk * nb
}

func (t Tensor) checkRows(rowStart, rowCount int) error {
	if !t.Supported() {
		return fmt.Errorf("%s: tensor %q has GGML type %s (%d), which cusprun cannot read (F32, F16, BF16, Q8_0)", t.srcName(), t.Name, t.Type, uint32(t.Type))
	}
	if rows := t.Rows(); rowStart < 0 || rowCount < 0 || rowStart > rows || rowCount > rows-rowStart {
		return fmt.Errorf("%s: tensor %q: rows [%d, %d) outside its %d rows", t.srcName(), t.Name, rowStart, rowStart+rowCount, rows)
	}
	return nil
}

func (t Tensor) srcName() string {
	if t.Src == nil {
		return "(no source)"
	}
	return t.Src.Name()
}

// ReadRaw reads rows [rowStart, rowStart+rowCount) of the tensor seen as a
// Rows x Cols matrix, as stored in the file.
func (t Tensor) ReadRaw(rowStart, rowCount int) ([]byte, error) {
	if err := t.checkRows(rowStart, rowCount); err != nil {
		return nil, err
	}
	rb := t.RowBytes()
	b, err := source.ReadExact(t.Src, t.Offset+int64(rowStart)*rb, int64(rowCount)*rb)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return b, nil
}

// ReadF32 reads rows [rowStart, rowStart+rowCount) into dst as float32;
// len(dst) must be rowCount*Cols. It reads through a bounded scratch buffer,
// so reading a whole large tensor costs no more than dst itself.
func (t Tensor) ReadF32(dst []float32, rowStart, rowCount int) error {
	if err := t.checkRows(rowStart, rowCount); err != nil {
		return err
	}
	cols := t.Cols()
	if int64(len(dst)) != int64(rowCount)*int64(cols) {
		return fmt.Errorf("%s: tensor %q: %d rows of %d need a buffer of %d floats, got %d", t.srcName(), t.Name, rowCount, cols, int64(rowCount)*int64(cols), len(dst))
	}
	rb := t.RowBytes()
	if rb == 0 || rowCount == 0 {
		return nil
	}
	per := max(1, int(chunkBytes/rb))
	buf := make([]byte, int64(min(per, rowCount))*rb)
	for r := 0; r < rowCount; r += per {
		n := min(per, rowCount-r)
		b := buf[:int64(n)*rb]
		off := t.Offset + int64(rowStart+r)*rb
		if off+int64(len(b)) > t.Src.Size() {
			return fmt.Errorf("%s: tensor %q: rows run past the end of the file", t.srcName(), t.Name)
		}
		if k, err := t.Src.ReadAt(b, off); k < len(b) {
			return fmt.Errorf("%s: tensor %q: reading %d bytes at %d: %v", t.srcName(), t.Name, len(b), off, err)
		}
		if err := tensor.Decode(dst[r*cols:(r+n)*cols], b, t.DType); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", t.srcName(), t.Name, err)
		}
	}
	return nil
}
