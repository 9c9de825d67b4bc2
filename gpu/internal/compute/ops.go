//go:build !wasip1

package compute

import (
	"fmt"
	"math"
)

// kernel fetches a compiled kernel, recording a failure in the pass.
func (p *Pass) kernel(files []string, entry string, kinds ...Kind) *Kernel {
	if p.err != nil {
		return nil
	}
	k, err := p.d.Kernel(files, entry, kinds...)
	if err != nil {
		p.err = err
	}
	return k
}

// MM describes one matmul: Y[t, YOff + j] (+)= sum_k X[XRow + t, XOff + k] * W[j, WOff + k]
// (+ Bias[j]) for t < N rows, k < K, j < W.Rows. Zero strides mean dense
// rows (X: K, Y: W.Rows, W: its columns).
type MM struct {
	N, K          int
	XStride, XOff int
	XRow          int // first row of X read
	WOff          int
	YStride, YOff int
	Bias          *Tensor // nil for none
	Accumulate    bool    // add into Y instead of overwriting it
}

// MatMul records y = x w^T (see MM), one dispatch per weight chunk.
func (p *Pass) MatMul(y, x *Tensor, w *Weight, a MM) {
	name, tile := "matmul", 16
	switch p.d.MatMulKernel {
	case "tiled":
		name, tile = "matmul_tiled", 64
	case "regs":
		name, tile = "matmul_regs", 32
	}
	k := p.kernel([]string{loader(w.DType), name}, "main", Read, Read, Read, ReadWrite, Uniform)
	if k == nil {
		return
	}
	xs, ys := a.XStride, a.YStride
	if xs == 0 {
		xs = a.K
	}
	if ys == 0 {
		ys = w.Rows
	}
	if a.WOff+a.K > w.Cols || a.XOff+a.K > xs || a.YOff+w.Rows > ys {
		p.err = fmt.Errorf("gpu: matmul: K %d at %d of %d weight columns, x stride %d at %d, y stride %d at %d for %d rows",
			a.K, a.WOff, w.Cols, xs, a.XOff, ys, a.YOff, w.Rows)
		return
	}
	var flags uint32
	bias := a.Bias
	if bias != nil {
		flags |= 1
	} else {
		bias = x // bound but unread
	}
	if a.Accumulate {
		flags |= 2
	}
	for _, c := range w.Chunks {
		params := []uint32{uint32(a.N), uint32(a.K), uint32(c.Rows), flags,
			uint32(xs), uint32(a.XRow*xs + a.XOff), uint32(w.Cols), uint32(a.WOff),
			uint32(ys), uint32(a.YOff + c.Lo), uint32(c.Lo), 0}
		p.Dispatch(k, [3]uint32{uint32((c.Rows + tile - 1) / tile), uint32((a.N + tile - 1) / tile), 1}, params, x, c.T, bias, y)
	}
}

// RMSNorm records y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w for n rows of width dim.
func (p *Pass) RMSNorm(y, x, w *Tensor, n, dim int, eps float32) {
	k := p.kernel([]string{"rmsnorm"}, "main", Read, Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, Grid(n), []uint32{uint32(n), uint32(dim), F(eps), 0}, x, w, y)
	}
}

// LayerNorm records y[t] = (x[t] - mean) / sqrt(var + eps) * w + b.
func (p *Pass) LayerNorm(y, x, w, b *Tensor, n, dim int, eps float32) {
	k := p.kernel([]string{"layernorm"}, "main", Read, Read, Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, Grid(n), []uint32{uint32(n), uint32(dim), F(eps), 0}, x, w, b, y)
	}
}

// Rope records the rotation, in place, of the first 2*half dimensions of
// every head of x ([n, heads*headDim]) by the per-row tables cos and sin
// ([n, half], already scaled).
func (p *Pass) Rope(x, cos, sin *Tensor, n, heads, headDim, half int) {
	k := p.kernel([]string{"rope"}, "main", ReadWrite, Read, Read, Uniform)
	if k != nil {
		total := n * heads * half
		p.Dispatch(k, Grid((total+63)/64), []uint32{uint32(n), uint32(heads), uint32(headDim), uint32(half)}, x, cos, sin)
	}
}

// Attention records causal grouped-query attention: z ([n, heads*hd]) from
// q ([n, heads*hd]) and k, v ([n, kvHeads*hd]); rowStart[r] is the first row
// of row r's document (its keys are rows rowStart[r]..r).
func (p *Pass) Attention(z, q, kt, v, rowStart *Tensor, n, heads, kvHeads, hd int) {
	if hd > 256 {
		p.err = fmt.Errorf("gpu: attention: head dim %d above 256", hd)
		return
	}
	k := p.kernel([]string{"attention"}, "main", Read, Read, Read, Read, ReadWrite, Uniform)
	if k == nil {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	const maxY = 65535
	for r0 := 0; r0 < n; r0 += maxY {
		rows := min(maxY, n-r0)
		p.Dispatch(k, [3]uint32{uint32(heads), uint32(rows), 1},
			[]uint32{uint32(n), uint32(heads), uint32(kvHeads), uint32(hd), uint32(r0), F(scale), 0, 0}, q, kt, v, rowStart, z)
	}
}

// SwiGLU records a[i] = silu(gate[i]) * a[i] for n values.
func (p *Pass) SwiGLU(a, gate *Tensor, n int) {
	k := p.kernel([]string{"swiglu"}, "main", Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, Grid((n+255)/256), []uint32{uint32(n), 0, 0, 0}, gate, a)
	}
}

// Gelu records the tanh GELU of n values of a, in place.
func (p *Pass) Gelu(a *Tensor, n int) {
	k := p.kernel([]string{"gelu"}, "main", ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, Grid((n+255)/256), []uint32{uint32(n), 0, 0, 0}, a)
	}
}

// Add records y[i] += x[i] for n values.
func (p *Pass) Add(y, x *Tensor, n int) {
	k := p.kernel([]string{"add"}, "main", Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, Grid((n+255)/256), []uint32{uint32(n), 0, 0, 0}, x, y)
	}
}

// AddRows records y[t, c] += b[c] for n rows of width w.
func (p *Pass) AddRows(y, b *Tensor, n, w int) {
	k := p.kernel([]string{"add"}, "rows", Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, Grid((n*w+255)/256), []uint32{uint32(n * w), uint32(w), 0, 0}, b, y)
	}
}

// Embed records y[t] = row ids[t] of table ([vocab, dim] in its dtype).
func (p *Pass) Embed(y, ids *Tensor, table *Weight, n int) {
	// One dispatch per chunk of the table: each copies the rows whose ids
	// fall inside its chunk (a 150k-row table need not fit one binding).
	k := p.kernel([]string{loader(table.DType), "embed"}, "main", Read, Read, ReadWrite, Uniform)
	if k == nil {
		return
	}
	for _, c := range table.Chunks {
		total := n * table.Cols
		p.Dispatch(k, Grid((total+255)/256), []uint32{uint32(n), uint32(table.Cols), uint32(c.Lo), uint32(c.Rows)}, ids, c.T, y)
	}
}

// Stats kernels (importance.wgsl). docs is [d0 start, d0 len, d1 start, ...].

// SumSquaresByDoc records acc[off + d*width + c] += sum over document d's
// rows of x[r, c]^2.
func (p *Pass) SumSquaresByDoc(acc, x, docs *Tensor, ndocs, width, off int) {
	k := p.kernel([]string{"importance"}, "by_doc", Read, Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, [3]uint32{uint32((width + 63) / 64), uint32(ndocs), 1},
			[]uint32{0, uint32(width), uint32(off), 0, uint32(ndocs), 0, 0, 0}, x, docs, acc)
	}
}

// ColumnSums records acc[sumOff + c] += sum_r x[r, c] and acc[sqOff + c] +=
// sum_r x[r, c]^2 over n rows.
func (p *Pass) ColumnSums(acc, x, docs *Tensor, n, width, sumOff, sqOff int) {
	k := p.kernel([]string{"importance"}, "columns", Read, Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, [3]uint32{uint32((width + 63) / 64), 1, 1},
			[]uint32{uint32(n), uint32(width), uint32(sumOff), uint32(sqOff), 0, 0, 0, 0}, x, docs, acc)
	}
}

// GroupSumSquares records acc[off + d*stride] += sum over document d's rows
// and all width columns of x[r, c]^2 (one KV group's o_proj output).
func (p *Pass) GroupSumSquares(acc, x, docs *Tensor, ndocs, width, off, stride int) {
	k := p.kernel([]string{"importance"}, "group", Read, Read, ReadWrite, Uniform)
	if k != nil {
		p.Dispatch(k, [3]uint32{uint32(ndocs), 1, 1},
			[]uint32{0, uint32(width), uint32(off), uint32(stride), uint32(ndocs), 0, 0, 0}, x, docs, acc)
	}
}
