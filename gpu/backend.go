//go:build !wasip1

package gpu

import (
	"fmt"
	"math"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/tensor"
)

// Backend is model.Backend on a GPU: the computation of model.CPU's Layer,
// kernel for kernel (shaders/*.wgsl), with the hidden states kept on the
// device between layers. Each layer's weights are uploaded as their file's
// bytes and released when the layer is done; the unit statistics are
// accumulated on the device and read back once per layer.
type Backend struct {
	d   *Device
	own bool
}

// New opens the default device (Vulkan natively, WebGPU in a browser).
func New() (*Backend, error) {
	d, err := Open()
	if err != nil {
		return nil, err
	}
	return &Backend{d: d, own: true}, nil
}

// NewOn runs on an open device, which the caller closes.
func NewOn(d *Device) *Backend { return &Backend{d: d} }

// Device is the backend's device.
func (b *Backend) Device() *Device { return b.d }

// Close releases the device when New opened it.
func (b *Backend) Close() {
	if b.own {
		b.d.Close()
	}
}

// Name is "gpu".
func (b *Backend) Name() string { return "gpu" }

type state struct {
	c        *model.Config
	docs     []ops.Span
	n        int
	h        *Tensor // [n, hidden]
	rowStart *Tensor // [n] first row of each row's document
	spans    *Tensor // [docs, 2] start, length
	cos, sin *Tensor // [n, rope dim / 2]
}

func (s *state) release() {
	for _, t := range []*Tensor{s.h, s.rowStart, s.spans, s.cos, s.sin} {
		t.Release()
	}
}

// Start uploads the embedded batch, its document layout and its rotary
// tables (cos and sin of every row's angles, computed as ops.Rope does).
func (b *Backend) Start(c *model.Config, h []float32, docs []ops.Span) (_ model.State, err error) {
	defer recoverErr(&err, "start")
	n := 0
	for _, d := range docs {
		if d.Past != 0 {
			return nil, fmt.Errorf("gpu backend: batches continue no KV cache (document at position %d)", d.Past)
		}
		n += d.Len
	}
	if len(h) != n*c.Hidden {
		return nil, fmt.Errorf("gpu backend: %d hidden values for %d tokens of width %d", len(h), n, c.Hidden)
	}
	half := c.Rope.Dim / 2
	rs := make([]uint32, n)
	spans := make([]uint32, 0, 2*len(docs))
	cos := make([]float32, n*half)
	sin := make([]float32, n*half)
	scale := c.RopeScale()
	for _, d := range docs {
		if d.Start < 0 || d.Start+d.Len > n {
			return nil, fmt.Errorf("gpu backend: document rows [%d, %d) outside %d tokens", d.Start, d.Start+d.Len, n)
		}
		spans = append(spans, uint32(d.Start), uint32(d.Len))
		inv := c.InvFreq(d.Past + d.Len)
		for i := 0; i < d.Len; i++ {
			r := d.Start + i
			rs[r] = uint32(d.Start)
			for j := 0; j < half; j++ {
				a := float64(d.Past+i) * float64(inv[j])
				cos[r*half+j] = float32(math.Cos(a)) * scale
				sin[r*half+j] = float32(math.Sin(a)) * scale
			}
		}
	}
	s := &state{c: c, docs: docs, n: n}
	ok := false
	defer func() {
		if !ok {
			s.release()
		}
	}()
	if s.h, err = b.d.UploadF32(h); err != nil {
		return nil, err
	}
	if s.rowStart, err = b.d.UploadU32(rs); err != nil {
		return nil, err
	}
	if s.spans, err = b.d.UploadU32(spans); err != nil {
		return nil, err
	}
	if s.cos, err = b.d.UploadF32(cos); err != nil {
		return nil, err
	}
	if s.sin, err = b.d.UploadF32(sin); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Free releases the batch's buffers.
func (b *Backend) Free(s model.State) {
	if st, ok := s.(*state); ok {
		st.release()
	}
}

// layerRun holds one layer's device resources, all released at its end.
type layerRun struct {
	d    *Device
	err  error
	rel  []interface{ Release() }
	maxB uint64
}

func (r *layerRun) keep(x interface{ Release() }) { r.rel = append(r.rel, x) }

func (r *layerRun) release() {
	for _, x := range r.rel {
		x.Release()
	}
	r.rel = nil
}

// mat uploads a matrix weight (nil stays nil).
func (r *layerRun) mat(w *model.Weight) *Weight {
	if w == nil || r.err != nil {
		return nil
	}
	dw, err := r.d.UploadWeight(w)
	if err != nil {
		r.err = err
		return nil
	}
	r.keep(dw)
	return dw
}

// vec uploads a norm weight or bias as float32 (nil stays nil).
func (r *layerRun) vec(w *model.Weight) *Tensor {
	if w == nil || r.err != nil {
		return nil
	}
	t, err := r.d.UploadF32(w.F32())
	if err != nil {
		r.err = fmt.Errorf("gpu: %s: %w", w.Name, err)
		return nil
	}
	r.keep(t)
	return t
}

// buf allocates an activation of n float32s; its contents are written by
// the kernels before they are read.
func (r *layerRun) buf(n int, what string) *Tensor {
	if r.err != nil {
		return nil
	}
	if uint64(4*n) > r.maxB {
		r.err = fmt.Errorf("gpu: the batch's %s (%d bytes) exceeds the device's %d-byte binding: score fewer tokens per batch", what, 4*n, r.maxB)
		return nil
	}
	t, err := r.d.NewTensor(uint64(4 * n))
	if err != nil {
		r.err = err
		return nil
	}
	r.keep(t)
	return t
}

func (b *Backend) norm(p *Pass, c *model.Config, y, x, w, bias *Tensor, n int) {
	if c.LayerNorm {
		p.LayerNorm(y, x, w, bias, n, c.Hidden, c.NormEps)
	} else {
		p.RMSNorm(y, x, w, n, c.Hidden, c.NormEps)
	}
}

// Layer runs decoder layer L over the batch in place, as model.CPU's Layer
// does, and with st accumulates the layer's unit statistics.
func (b *Backend) Layer(s model.State, L *model.Layer, st *model.Stats) (err error) {
	defer recoverErr(&err, "layer")
	S, ok := s.(*state)
	if !ok {
		return fmt.Errorf("gpu backend: state %T is not the gpu backend's", s)
	}
	d := b.d
	c, n, H, hd := S.c, S.n, S.c.Hidden, S.c.HeadDim
	nq, nkv, F := L.Heads*hd, L.KVHeads*hd, L.FFN
	G, ndocs := L.KVHeads, len(S.docs)
	half := c.Rope.Dim / 2
	if hd > 256 {
		return fmt.Errorf("gpu backend: head dim %d above 256", hd)
	}
	r := &layerRun{d: d, maxB: min(d.MaxBinding, d.limits.MaxStorageBufferBindingSize)}
	defer r.release()

	attnNorm, attnNormB := r.vec(L.AttnNorm), r.vec(L.AttnNormB)
	ffnNorm, ffnNormB := r.vec(L.FFNNorm), r.vec(L.FFNNormB)
	qb, kb, vb, ob := r.vec(L.QB), r.vec(L.KB), r.vec(L.VB), r.vec(L.OB)
	qn, kn := r.vec(L.QNorm), r.vec(L.KNorm)
	upB, downB := r.vec(L.UpB), r.vec(L.DownB)
	Wq, Wk, Wv, Wo := r.mat(L.Q), r.mat(L.K), r.mat(L.V), r.mat(L.O)
	Wg, Wu, Wd := r.mat(L.Gate), r.mat(L.Up), r.mat(L.Down)

	xn := r.buf(n*H, "normed hidden states")
	q := r.buf(n*nq, "queries")
	k := r.buf(n*nkv, "keys")
	v := r.buf(n*nkv, "values")
	z := r.buf(n*nq, "attention output")
	a := r.buf(n*F, "FFN activations")
	var g, q2, k2, tmp, acc *Tensor
	if Wg != nil {
		g = r.buf(n*F, "FFN gate")
	}
	if c.QKNorm {
		q2, k2 = r.buf(n*nq, "normed queries"), r.buf(n*nkv, "normed keys")
	}
	// Statistics on the device: FFNDoc, AttnDoc, FFNSum, FFNSq, OSum, OSq.
	offAttn := ndocs * F
	offFSum := offAttn + ndocs*G
	offFSq := offFSum + F
	offOSum := offFSq + F
	offOSq := offOSum + nq
	total := offOSq + nq
	if st != nil {
		tmp = r.buf(n*H, "o_proj group output")
		if r.err == nil {
			acc, r.err = d.Zeros(total)
			if r.err == nil {
				r.keep(acc)
			}
		}
	}
	if r.err != nil {
		return r.err
	}

	p, err := d.NewPass()
	if err != nil {
		return err
	}
	h := S.h
	b.norm(p, c, xn, h, attnNorm, attnNormB, n)
	p.MatMul(q, xn, Wq, MM{N: n, K: H, Bias: qb})
	p.MatMul(k, xn, Wk, MM{N: n, K: H, Bias: kb})
	p.MatMul(v, xn, Wv, MM{N: n, K: H, Bias: vb})
	if c.QKNorm {
		p.RMSNorm(q2, q, qn, n*L.Heads, hd, c.NormEps)
		p.RMSNorm(k2, k, kn, n*L.KVHeads, hd, c.NormEps)
		q, k = q2, k2
	}
	p.Rope(q, S.cos, S.sin, n, L.Heads, hd, half)
	p.Rope(k, S.cos, S.sin, n, L.KVHeads, hd, half)
	p.Attention(z, q, k, v, S.rowStart, n, L.Heads, L.KVHeads, hd)
	if st != nil {
		p.ColumnSums(acc, z, S.spans, n, nq, offOSum, offOSq)
		gw := nq / G
		for u := 0; u < G; u++ {
			p.MatMul(tmp, z, Wo, MM{N: n, K: gw, XStride: nq, XOff: u * gw, WOff: u * gw})
			p.GroupSumSquares(acc, tmp, S.spans, ndocs, H, offAttn+u, G)
			p.Add(h, tmp, n*H)
		}
		if ob != nil {
			p.AddRows(h, ob, n, H)
		}
	} else {
		p.MatMul(h, z, Wo, MM{N: n, K: nq, Bias: ob, Accumulate: true})
	}
	if !c.Parallel {
		b.norm(p, c, xn, h, ffnNorm, ffnNormB, n)
	}
	p.MatMul(a, xn, Wu, MM{N: n, K: H, Bias: upB})
	if Wg != nil {
		p.MatMul(g, xn, Wg, MM{N: n, K: H})
		p.SwiGLU(a, g, n*F)
	} else {
		p.Gelu(a, n*F)
	}
	if st != nil {
		p.SumSquaresByDoc(acc, a, S.spans, ndocs, F, 0)
		p.ColumnSums(acc, a, S.spans, n, F, offFSum, offFSq)
	}
	p.MatMul(h, a, Wd, MM{N: n, K: F, Bias: downB, Accumulate: true})
	if err := p.Submit(); err != nil {
		return err
	}
	if st == nil {
		// Wait for the layer (a tiny read), so errors surface here and the
		// layer's weights leave the device before the next one arrives.
		_, err := d.Read(h, 0, 4)
		return err
	}
	vals, err := d.ReadF32(acc, total)
	if err != nil {
		return err
	}
	for dd := 0; dd < ndocs; dd++ {
		ops.Add(st.FFNDoc[dd][:F], vals[dd*F:(dd+1)*F])
		ops.Add(st.AttnDoc[dd][:G], vals[offAttn+dd*G:offAttn+(dd+1)*G])
	}
	for i := 0; i < F; i++ {
		st.FFNSum[i] += float64(vals[offFSum+i])
		st.FFNSq[i] += float64(vals[offFSq+i])
	}
	for i := 0; i < nq; i++ {
		st.OSum[i] += float64(vals[offOSum+i])
		st.OSq[i] += float64(vals[offOSq+i])
	}
	st.Tokens += n
	return nil
}

// Final gathers the given rows of the hidden states on the device, applies
// the final norm there and returns them ([len(rows), hidden]).
func (b *Backend) Final(s model.State, hd *model.Head, rows []int) (_ []float32, err error) {
	defer recoverErr(&err, "final")
	S, ok := s.(*state)
	if !ok {
		return nil, fmt.Errorf("gpu backend: state %T is not the gpu backend's", s)
	}
	c, H, R := S.c, S.c.Hidden, len(rows)
	if R == 0 {
		return nil, nil
	}
	ids := make([]uint32, R)
	for i, row := range rows {
		if row < 0 || row >= S.n {
			return nil, fmt.Errorf("gpu backend: row %d outside %d tokens", row, S.n)
		}
		ids[i] = uint32(row)
	}
	r := &layerRun{d: b.d, maxB: min(b.d.MaxBinding, b.d.limits.MaxStorageBufferBindingSize)}
	defer r.release()
	w, bias := r.vec(hd.Norm), r.vec(hd.NormB)
	x, y := r.buf(R*H, "final rows"), r.buf(R*H, "final rows")
	if r.err != nil {
		return nil, r.err
	}
	idT, err := b.d.UploadU32(ids)
	if err != nil {
		return nil, err
	}
	r.keep(idT)
	p, err := b.d.NewPass()
	if err != nil {
		return nil, err
	}
	table := &Weight{DType: tensor.F32, Rows: S.n, Cols: H, Chunks: []Chunk{{T: S.h, Lo: 0, Rows: S.n}}}
	p.Embed(x, idT, table, R)
	b.norm(p, c, y, x, w, bias, R)
	if err := p.Submit(); err != nil {
		return nil, err
	}
	return b.d.ReadF32(y, R*H)
}

var _ model.Backend = (*Backend)(nil)
