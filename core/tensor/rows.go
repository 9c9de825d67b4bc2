package tensor

import (
	"fmt"
	"io"
)

// File is what a tensor's bytes are read from (source.Source satisfies it).
type File interface {
	io.ReaderAt
	Size() int64
	Name() string
}

// chunkBytes bounds the scratch buffer ReadF32 decodes through.
const chunkBytes = 1 << 20

// RowBytes is the size of one row of the tensor's 2-D view.
func (t Info) RowBytes() int64 { return t.DType.ByteSize(int64(t.Cols())) }

func checkRows(f File, t Info, lo, n int) error {
	if rows := t.Rows(); lo < 0 || n < 0 || lo > rows || n > rows-lo {
		return fmt.Errorf("%s: tensor %q: rows [%d, %d) outside its %d rows", f.Name(), t.Name, lo, lo+n, rows)
	}
	return nil
}

// ReadRaw reads rows [lo, lo+n) of t, seen as a Rows x Cols matrix, as
// stored in f.
func ReadRaw(f File, t Info, lo, n int) ([]byte, error) {
	if err := checkRows(f, t, lo, n); err != nil {
		return nil, err
	}
	rb := t.RowBytes()
	off, size := t.Offset+int64(lo)*rb, int64(n)*rb
	if size == 0 {
		return []byte{}, nil // nothing to read, wherever an empty tensor sits
	}
	if off < 0 || off+size > f.Size() {
		return nil, fmt.Errorf("%s: tensor %q: rows [%d, %d) run past the end of the file", f.Name(), t.Name, lo, lo+n)
	}
	b := make([]byte, size)
	if k, err := f.ReadAt(b, off); k < len(b) {
		return nil, fmt.Errorf("%s: tensor %q: reading %d bytes at %d: %v", f.Name(), t.Name, len(b), off, err)
	}
	return b, nil
}

// ReadF32 reads rows [lo, lo+n) of t into dst as float32 (len(dst) must be
// n*Cols), through a bounded scratch buffer, so reading a whole large tensor
// costs no more memory than dst itself.
func ReadF32(f File, t Info, dst []float32, lo, n int) error {
	if err := checkRows(f, t, lo, n); err != nil {
		return err
	}
	cols := t.Cols()
	if int64(len(dst)) != int64(n)*int64(cols) {
		return fmt.Errorf("%s: tensor %q: %d rows of %d need a buffer of %d floats, got %d", f.Name(), t.Name, n, cols, int64(n)*int64(cols), len(dst))
	}
	rb := t.RowBytes()
	if rb == 0 || n == 0 {
		return nil
	}
	per := max(1, int(chunkBytes/rb))
	buf := make([]byte, int64(min(per, n))*rb)
	for r := 0; r < n; r += per {
		k := min(per, n-r)
		b := buf[:int64(k)*rb]
		off := t.Offset + int64(lo+r)*rb
		if off+int64(len(b)) > f.Size() {
			return fmt.Errorf("%s: tensor %q: rows run past the end of the file", f.Name(), t.Name)
		}
		if got, err := f.ReadAt(b, off); got < len(b) {
			return fmt.Errorf("%s: tensor %q: reading %d bytes at %d: %v", f.Name(), t.Name, len(b), off, err)
		}
		if err := Decode(dst[r*cols:(r+k)*cols], b, t.DType); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", f.Name(), t.Name, err)
		}
	}
	return nil
}
