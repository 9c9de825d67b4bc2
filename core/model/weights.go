package model

import (
	"fmt"

	"github.com/cusprun/cusprun/core/tensor"
)

// Weight is one matrix or vector as its file stores it: the raw bytes in the
// file's dtype, row-major [Rows, Cols]. Backends decide how to use them: the
// CPU backend widens them to float32 once per layer, the GPU uploads the bytes.
type Weight struct {
	Name       string
	DType      tensor.DType
	Rows, Cols int
	Raw        []byte
	f32        []float32
}

// F32 widens the weight to float32 (once; the result is kept until the
// weight is dropped with its layer).
func (w *Weight) F32() []float32 {
	if w == nil {
		return nil
	}
	if w.f32 == nil {
		w.f32 = make([]float32, w.Rows*w.Cols)
		if err := tensor.Decode(w.f32, w.Raw, w.DType); err != nil {
			panic(fmt.Sprintf("%s: %v", w.Name, err)) // sizes were checked on load
		}
	}
	return w.f32
}

// rowBytes is the size of one row in the file's dtype.
func (w *Weight) rowBytes() int { return int(w.DType.ByteSize(int64(w.Cols))) }

// SliceRows returns rows [lo, hi) as a new Weight sharing no memory.
func (w *Weight) SliceRows(lo, hi int) *Weight {
	rb := w.rowBytes()
	raw := append([]byte(nil), w.Raw[lo*rb:hi*rb]...)
	return &Weight{Name: w.Name, DType: w.DType, Rows: hi - lo, Cols: w.Cols, Raw: raw}
}

// PermuteRows returns a weight whose row i is w's row from(i).
func (w *Weight) PermuteRows(from func(int) int) *Weight {
	rb := w.rowBytes()
	raw := make([]byte, len(w.Raw))
	for i := 0; i < w.Rows; i++ {
		j := from(i)
		copy(raw[i*rb:(i+1)*rb], w.Raw[j*rb:(j+1)*rb])
	}
	return &Weight{Name: w.Name, DType: w.DType, Rows: w.Rows, Cols: w.Cols, Raw: raw}
}

// Layer is one decoder block's weights, named by their role. Optional ones
// are nil when the family has none (biases, q/k norms, the gate of a plain MLP).
type Layer struct {
	Index               int
	Heads, KVHeads, FFN int
	AttnNorm, AttnNormB *Weight
	Q, K, V, O          *Weight
	QB, KB, VB, OB      *Weight
	QNorm, KNorm        *Weight
	FFNNorm, FFNNormB   *Weight // nil for a parallel block (phi)
	Gate, Up, Down      *Weight // Gate nil for a plain MLP: Up is fc1, Down fc2
	UpB, DownB          *Weight
}

// Head holds what turns the last hidden state into logits.
type Head struct {
	Norm, NormB *Weight
	Out, OutB   *Weight // Out is the embedding matrix when tied
}
