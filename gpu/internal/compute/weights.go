//go:build !wasip1

package compute

import (
	"fmt"

	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/shaders"
)

// Weight is a matrix on the device in its file dtype (quantized ones as
// their blocks' bytes), split by rows into chunks that each fit one storage
// binding.
type Weight struct {
	DType      tensor.DType // F32, F16, BF16 or a quantized dtype, as stored on the device
	Rows, Cols int
	Chunks     []Chunk
}

// Chunk is rows [Lo, Lo+Rows) of a weight, in its own buffer.
type Chunk struct {
	T        *Tensor
	Lo, Rows int
}

// Release frees the weight's buffers.
func (w *Weight) Release() {
	if w == nil {
		return
	}
	for _, c := range w.Chunks {
		c.T.Release()
	}
	w.Chunks = nil
}

// UploadMatrix copies a [rows, cols] matrix of dtype dt (F32, F16, BF16 or
// a quantized dtype whose rows are whole blocks) to the device, split by rows so that no chunk exceeds d.MaxBinding.
func (d *Device) UploadMatrix(raw []byte, dt tensor.DType, rows, cols int, name string) (*Weight, error) {
	rb := int(dt.ByteSize(int64(cols)))
	if rb <= 0 || len(raw) < rows*rb {
		return nil, fmt.Errorf("gpu: %s: %d bytes for %dx%d %s", name, len(raw), rows, cols, dt)
	}
	// Each chunk is its own buffer, padded to whole u32 words.
	per := int(d.MaxBinding&^3) / rb
	if per < 1 {
		return nil, fmt.Errorf("gpu: %s: one row of %d bytes exceeds the device's %d-byte binding", name, rb, d.MaxBinding)
	}
	w := &Weight{DType: dt, Rows: rows, Cols: cols}
	for lo := 0; lo < rows; lo += per {
		n := min(per, rows-lo)
		t, err := d.Upload(raw[lo*rb : (lo+n)*rb])
		if err != nil {
			w.Release()
			return nil, fmt.Errorf("%w (uploading %s)", err, name)
		}
		w.Chunks = append(w.Chunks, Chunk{T: t, Lo: lo, Rows: n})
	}
	return w, nil
}

func loader(dt tensor.DType) string {
	switch dt {
	case tensor.BF16:
		return "wload_bf16"
	case tensor.F16:
		return "wload_f16"
	}
	if dt.Quantized() { // blocks as bytes, dequantized in the shader
		return shaders.WeightLoader(dt.String())
	}
	return "wload_f32"
}
