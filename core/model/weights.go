package model

import (
	"fmt"

	"github.com/cusprun/cusprun/core/ops"
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
// weight is dropped with its layer). Quantized dtypes (Q4_0 ... Q6_K, IQ4_*) are
// dequantized here exactly as ggml does, a layer at a time like the rest.
func (w *Weight) F32() []float32 {
	if w == nil {
		return nil
	}
	if w.f32 == nil {
		w.f32 = make([]float32, w.Rows*w.Cols)
		// Rows decode independently: split them over the cores (the
		// conversion is a sizeable share of a layer's time otherwise).
		rb := w.rowBytes()
		ops.Parallel(w.Rows, max(1, (1<<16)/max(w.Cols, 1)), func(lo, hi int) {
			if err := tensor.Decode(w.f32[lo*w.Cols:hi*w.Cols], w.Raw[lo*rb:hi*rb], w.DType); err != nil {
				panic(fmt.Sprintf("%s: %v", w.Name, err)) // sizes were checked on load
			}
		})
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
	FFNNorm             *Weight // nil for a parallel block (phi, the one LayerNorm family)
	Gate, Up, Down      *Weight // Gate nil for a plain MLP: Up is fc1, Down fc2
	UpB, DownB          *Weight
}

// Head holds what turns the last hidden state into logits, but for the
// output matrix itself, which Logits streams from the file in chunks.
type Head struct {
	Norm, NormB *Weight
	OutB        *Weight // lm_head's bias (phi), nil without one
}

// SelectCols returns a weight holding only the given columns. Whole-element
// dtypes are copied byte for byte; rows of a quantized dtype (Q8_0, Q4_K,
// ...) cannot be cut inside a block, so they are widened to F32 first.
func (w *Weight) SelectCols(cols []int) *Weight {
	if identity(cols, w.Cols) { // nothing cut: keep the bytes (and quant blocks) as stored
		return &Weight{Name: w.Name, DType: w.DType, Rows: w.Rows, Cols: w.Cols, Raw: append([]byte(nil), w.Raw...)}
	}
	if w.DType.Quantized() {
		f := w.F32()
		out := make([]float32, 0, w.Rows*len(cols))
		for r := 0; r < w.Rows; r++ {
			for _, c := range cols {
				out = append(out, f[r*w.Cols+c])
			}
		}
		raw, _ := tensor.Encode(nil, out, tensor.F32)
		return &Weight{Name: w.Name, DType: tensor.F32, Rows: w.Rows, Cols: len(cols), Raw: raw}
	}
	es := int(w.DType.ByteSize(1))
	rb := w.rowBytes()
	raw := make([]byte, 0, w.Rows*len(cols)*es)
	for r := 0; r < w.Rows; r++ {
		row := w.Raw[r*rb : (r+1)*rb]
		for _, c := range cols {
			raw = append(raw, row[c*es:(c+1)*es]...)
		}
	}
	return &Weight{Name: w.Name, DType: w.DType, Rows: w.Rows, Cols: len(cols), Raw: raw}
}

// identity reports whether cols is 0, 1, ..., n-1.
func identity(cols []int, n int) bool {
	if len(cols) != n {
		return false
	}
	for i, c := range cols {
		if c != i {
			return false
		}
	}
	return true
}

// SelectRows returns a weight holding only the given rows.
func (w *Weight) SelectRows(rows []int) *Weight {
	rb := w.rowBytes()
	raw := make([]byte, 0, len(rows)*rb)
	for _, r := range rows {
		raw = append(raw, w.Raw[r*rb:(r+1)*rb]...)
	}
	return &Weight{Name: w.Name, DType: w.DType, Rows: len(rows), Cols: w.Cols, Raw: raw}
}

// ConcatRows stacks weights of one width and dtype (fused qkv, gate_up).
func ConcatRows(name string, ws ...*Weight) *Weight {
	out := &Weight{Name: name, DType: ws[0].DType, Cols: ws[0].Cols}
	for _, w := range ws {
		out.Rows += w.Rows
		out.Raw = append(out.Raw, w.Raw...)
	}
	return out
}

// As returns the weight's bytes in dtype d (converting through float32 when
// it is stored otherwise).
func (w *Weight) As(d tensor.DType) ([]byte, error) {
	if w.DType == d {
		return w.Raw, nil
	}
	return tensor.Encode(nil, w.F32(), d)
}

// rawBytes is the layer's size in the file.
func (L *Layer) rawBytes() int {
	n := 0
	for _, rw := range L.Weights() {
		n += len(rw.W.Raw)
	}
	return n
}
