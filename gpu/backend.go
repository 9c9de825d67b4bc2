//go:build !wasip1

package gpu

import (
	"fmt"
	"math"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/gpu/internal/compute"
)

// Backend is model.Backend on a GPU: the computation of model.CPU's Layer,
// kernel for kernel (shaders/*.wgsl), with the hidden states kept on the
// device between layers. Each layer's weights are uploaded as their file's
// bytes and released when the layer is done; the unit statistics are
// accumulated on the device and read back once per layer. It keeps no KV
// cache (it is not a model.CacheBackend): model.GenerateOn refuses it, and
// generation runs on model.CPU.
type Backend struct {
	d   *compute.Device
	own bool
}

// New opens the default device (Vulkan natively, WebGPU in a browser).
func New() (*Backend, error) {
	d, err := compute.Open()
	if err != nil {
		return nil, err
	}
	return &Backend{d: d, own: true}, nil
}

// DeviceName is the adapter's name, as the driver reports it.
func (b *Backend) DeviceName() string { return b.d.Name() }

// Close releases the device when New opened it.
func (b *Backend) Close() {
	if b.own {
		b.d.Close()
	}
}

// Name is "gpu".
func (b *Backend) Name() string { return "gpu" }

// part is a run of whole documents whose activations fit one storage
// binding: a batch larger than that is split into parts, each with its own
// hidden states on the device, and a layer runs them one after another with
// the same uploaded weights.
type part struct {
	d0, ndocs int             // its documents [d0, d0+ndocs) of the batch
	lo, n     int             // its rows [lo, lo+n) of the batch
	h         *compute.Tensor // [n, hidden]
	rowStart  *compute.Tensor // [n] first row (in the part) of each row's document
	spans     *compute.Tensor // [ndocs, 2] start (in the part), length
	cos, sin  *compute.Tensor // [n, rope dim / 2]
}

func (p *part) release() {
	for _, t := range []*compute.Tensor{p.h, p.rowStart, p.spans, p.cos, p.sin} {
		t.Release()
	}
}

type state struct {
	c     *model.Config
	docs  []ops.Span
	n     int
	parts []*part
	maxN  int // the most rows of a part
	// final holds the rows the last Final returned, normed, in blocks
	// that each fit a binding, for HeadMatMul.
	final []*compute.Tensor
	fRows []int
}

func (s *state) releaseFinal() {
	for _, t := range s.final {
		t.Release()
	}
	s.final, s.fRows = nil, nil
}

func (s *state) release() {
	for _, p := range s.parts {
		p.release()
	}
	s.parts = nil
	s.releaseFinal()
}

// maxBinding is the most bytes one activation buffer may take.
func (b *Backend) maxBinding() uint64 {
	mb := b.d.MaxBinding
	if lim := b.d.Limits().MaxStorageBufferBindingSize; lim > 0 && lim < mb {
		mb = lim
	}
	return mb
}

// widest is the most float32s a token takes in any one activation of any
// layer of c (hidden, queries, keys, FFN).
func widest(c *model.Config) int {
	w := max(c.Hidden, c.Rope.Dim/2)
	for l := 0; l < c.Layers; l++ {
		w = max(w, c.HeadsAt(l)*c.HeadDim, c.FFNAt(l))
	}
	return w
}

// Start uploads the embedded batch, its document layout and its rotary
// tables (cos and sin of every row's angles, computed as ops.Rope does),
// split into parts of whole documents whose activations fit a binding.
func (b *Backend) Start(c *model.Config, h []float32, docs []ops.Span) (_ model.State, err error) {
	defer compute.Recover(&err, "start")
	n := 0
	for i, d := range docs {
		if d.Past != 0 {
			return nil, fmt.Errorf("gpu backend: batches continue no KV cache (document at position %d)", d.Past)
		}
		if d.Start != n || d.Len < 0 {
			return nil, fmt.Errorf("gpu backend: document %d at row %d, want the documents packed end to end (row %d)", i, d.Start, n)
		}
		n += d.Len
	}
	if len(h) != n*c.Hidden {
		return nil, fmt.Errorf("gpu backend: %d hidden values for %d tokens of width %d", len(h), n, c.Hidden)
	}
	// Group the documents into parts.
	perTok := uint64(4 * widest(c))
	maxRows := int(b.maxBinding() / perTok)
	s := &state{c: c, docs: docs, n: n}
	ok := false
	defer func() {
		if !ok {
			s.release()
		}
	}()
	for d0 := 0; d0 < len(docs); {
		d1, rows := d0, 0
		for d1 < len(docs) && rows+docs[d1].Len <= maxRows {
			rows += docs[d1].Len
			d1++
		}
		if d1 == d0 {
			return nil, fmt.Errorf("gpu backend: a document of %d tokens needs %d bytes per activation, more than the device's %d-byte binding: score shorter documents",
				docs[d0].Len, uint64(docs[d0].Len)*perTok, b.maxBinding())
		}
		p, err := b.startPart(c, h, docs, d0, d1)
		if err != nil {
			return nil, err
		}
		s.parts = append(s.parts, p)
		s.maxN = max(s.maxN, p.n)
		d0 = d1
	}
	ok = true
	return s, nil
}

// startPart uploads documents [d0, d1) of the batch as one part.
func (b *Backend) startPart(c *model.Config, h []float32, docs []ops.Span, d0, d1 int) (_ *part, err error) {
	lo := docs[d0].Start
	n := docs[d1-1].Start + docs[d1-1].Len - lo
	half := c.Rope.Dim / 2
	rs := make([]uint32, n)
	spans := make([]uint32, 0, 2*(d1-d0))
	cos := make([]float32, n*half)
	sin := make([]float32, n*half)
	scale := c.RopeScale()
	for _, d := range docs[d0:d1] {
		start := d.Start - lo
		spans = append(spans, uint32(start), uint32(d.Len))
		inv := c.InvFreq(d.Past + d.Len)
		for i := 0; i < d.Len; i++ {
			r := start + i
			rs[r] = uint32(start)
			for j := 0; j < half; j++ {
				a := float64(d.Past+i) * float64(inv[j])
				cos[r*half+j] = float32(math.Cos(a)) * scale
				sin[r*half+j] = float32(math.Sin(a)) * scale
			}
		}
	}
	p := &part{d0: d0, ndocs: d1 - d0, lo: lo, n: n}
	ok := false
	defer func() {
		if !ok {
			p.release()
		}
	}()
	H := c.Hidden
	if p.h, err = b.d.UploadF32(h[lo*H : (lo+n)*H]); err != nil {
		return nil, err
	}
	if p.rowStart, err = b.d.UploadU32(rs); err != nil {
		return nil, err
	}
	if p.spans, err = b.d.UploadU32(spans); err != nil {
		return nil, err
	}
	if p.cos, err = b.d.UploadF32(cos); err != nil {
		return nil, err
	}
	if p.sin, err = b.d.UploadF32(sin); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// Free releases the batch's buffers.
func (b *Backend) Free(s model.State) {
	if st, ok := s.(*state); ok {
		st.release()
	}
}

// layerRun holds one layer's device resources, all released at its end.
type layerRun struct {
	d    *compute.Device
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
func (r *layerRun) mat(w *model.Weight) *compute.Weight {
	if w == nil || r.err != nil {
		return nil
	}
	dw, err := uploadWeight(r.d, w)
	if err != nil {
		r.err = err
		return nil
	}
	r.keep(dw)
	return dw
}

// vec uploads a norm weight or bias as float32 (nil stays nil).
func (r *layerRun) vec(w *model.Weight) *compute.Tensor {
	if w == nil || r.err != nil {
		return nil
	}
	t, err := r.d.UploadF32(w.F32())
	if err != nil {
		r.err = fmt.Errorf("%w (uploading %s)", err, w.Name)
		return nil
	}
	r.keep(t)
	return t
}

// buf allocates an activation of n float32s; its contents are written by
// the kernels before they are read.
func (r *layerRun) buf(n int, what string) *compute.Tensor {
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

func (b *Backend) norm(p *compute.Pass, c *model.Config, y, x, w, bias *compute.Tensor, n int) {
	if c.LayerNorm {
		p.LayerNorm(y, x, w, bias, n, c.Hidden, c.NormEps)
	} else {
		p.RMSNorm(y, x, w, n, c.Hidden, c.NormEps)
	}
}

// Layer runs decoder layer L over the batch in place, as model.CPU's Layer
// does, and with st accumulates the layer's unit statistics. The layer's
// weights are uploaded once and every part of the batch goes through them.
func (b *Backend) Layer(s model.State, L *model.Layer, st *model.Stats) (err error) {
	defer compute.Recover(&err, "layer")
	S, ok := s.(*state)
	if !ok {
		return fmt.Errorf("gpu backend: state %T is not the gpu backend's", s)
	}
	d := b.d
	c, n, H, hd := S.c, S.maxN, S.c.Hidden, S.c.HeadDim
	nq, nkv, F := L.Heads*hd, L.KVHeads*hd, L.FFN
	G, ndocs := L.KVHeads, len(S.docs)
	half := c.Rope.Dim / 2
	if hd > 256 {
		return fmt.Errorf("gpu backend: head dim %d above 256", hd)
	}
	if len(S.parts) == 0 {
		return nil
	}
	r := &layerRun{d: d, maxB: b.maxBinding()}
	defer r.release()

	attnNorm, attnNormB := r.vec(L.AttnNorm), r.vec(L.AttnNormB)
	ffnNorm := r.vec(L.FFNNorm)
	qb, kb, vb, ob := r.vec(L.QB), r.vec(L.KB), r.vec(L.VB), r.vec(L.OB)
	qn, kn := r.vec(L.QNorm), r.vec(L.KNorm)
	upB, downB := r.vec(L.UpB), r.vec(L.DownB)
	Wq, Wk, Wv, Wo := r.mat(L.Q), r.mat(L.K), r.mat(L.V), r.mat(L.O)
	Wg, Wu, Wd := r.mat(L.Gate), r.mat(L.Up), r.mat(L.Down)

	// Activations sized for the largest part, reused by every part.
	xn := r.buf(n*H, "normed hidden states")
	q := r.buf(n*nq, "queries")
	k := r.buf(n*nkv, "keys")
	v := r.buf(n*nkv, "values")
	z := r.buf(n*nq, "attention output")
	a := r.buf(n*F, "FFN activations")
	var g, q2, k2, tmp, acc *compute.Tensor
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
	for _, P := range S.parts {
		n, h := P.n, P.h
		q, k := q, k
		b.norm(p, c, xn, h, attnNorm, attnNormB, n)
		p.MatMul(q, xn, Wq, compute.MM{N: n, K: H, Bias: qb})
		p.MatMul(k, xn, Wk, compute.MM{N: n, K: H, Bias: kb})
		p.MatMul(v, xn, Wv, compute.MM{N: n, K: H, Bias: vb})
		if c.QKNorm {
			p.RMSNorm(q2, q, qn, n*L.Heads, hd, c.NormEps)
			p.RMSNorm(k2, k, kn, n*L.KVHeads, hd, c.NormEps)
			q, k = q2, k2
		}
		p.Rope(q, P.cos, P.sin, n, L.Heads, hd, half)
		p.Rope(k, P.cos, P.sin, n, L.KVHeads, hd, half)
		p.Attention(z, q, k, v, P.rowStart, n, L.Heads, L.KVHeads, hd)
		if st != nil {
			p.ColumnSums(acc, z, P.spans, n, nq, offOSum, offOSq)
			gw := nq / G
			for u := 0; u < G; u++ {
				p.MatMul(tmp, z, Wo, compute.MM{N: n, K: gw, XStride: nq, XOff: u * gw, WOff: u * gw})
				p.GroupSumSquares(acc, tmp, P.spans, P.ndocs, H, offAttn+P.d0*G+u, G)
				p.Add(h, tmp, n*H)
			}
			if ob != nil {
				p.AddRows(h, ob, n, H)
			}
		} else {
			p.MatMul(h, z, Wo, compute.MM{N: n, K: nq, Bias: ob, Accumulate: true})
		}
		if !c.Parallel {
			b.norm(p, c, xn, h, ffnNorm, nil, n) // an RMSNorm: LayerNorm blocks are parallel
		}
		p.MatMul(a, xn, Wu, compute.MM{N: n, K: H, Bias: upB})
		if Wg != nil {
			p.MatMul(g, xn, Wg, compute.MM{N: n, K: H})
			p.SwiGLU(a, g, n*F)
		} else {
			p.Gelu(a, n*F)
		}
		if st != nil {
			p.SumSquaresByDoc(acc, a, P.spans, P.ndocs, F, P.d0*F)
			p.ColumnSums(acc, a, P.spans, n, F, offFSum, offFSq)
		}
		p.MatMul(h, a, Wd, compute.MM{N: n, K: F, Bias: downB, Accumulate: true})
		if st != nil && (st.OInputs != nil || st.DownInputs != nil) {
			if p, err = b.reportInputs(p, st, z, a, n, nq, F); err != nil {
				return err
			}
		}
	}
	if err := p.Submit(); err != nil {
		return err
	}
	if st == nil {
		// Wait for the layer (a tiny read), so errors surface here and the
		// layer's weights leave the device before the next one arrives.
		_, err := d.Read(S.parts[0].h, 0, 4)
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
	st.Tokens += S.n
	return nil
}

// Final gathers the given rows of the hidden states on the device, applies
// the final norm there and returns them ([len(rows), hidden]). The normed
// rows stay on the device for HeadMatMul until the next Final or Free.
func (b *Backend) Final(s model.State, hd *model.Head, rows []int) (_ []float32, err error) {
	defer compute.Recover(&err, "final")
	S, ok := s.(*state)
	if !ok {
		return nil, fmt.Errorf("gpu backend: state %T is not the gpu backend's", s)
	}
	S.releaseFinal()
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
	r := &layerRun{d: b.d, maxB: b.maxBinding()}
	defer r.release()
	w, bias := r.vec(hd.Norm), r.vec(hd.NormB)
	if r.err != nil {
		return nil, r.err
	}
	// The parts' hidden states are the chunks of one [n, hidden] table.
	table := &compute.Weight{DType: tensor.F32, Rows: S.n, Cols: H}
	for _, P := range S.parts {
		table.Chunks = append(table.Chunks, compute.Chunk{T: P.h, Lo: P.lo, Rows: P.n})
	}
	per := max(1, int(r.maxB/uint64(4*H)))
	p, err := b.d.NewPass()
	if err != nil {
		return nil, err
	}
	for lo := 0; lo < R; lo += per {
		nr := min(per, R-lo)
		idT, err := b.d.UploadU32(ids[lo : lo+nr])
		if err != nil {
			p.Fail(err)
			break
		}
		r.keep(idT)
		x := r.buf(nr*H, "final rows")
		if r.err != nil {
			p.Fail(r.err)
			break
		}
		y, err := b.d.NewTensor(uint64(4 * nr * H))
		if err != nil {
			p.Fail(err)
			break
		}
		S.final = append(S.final, y)
		S.fRows = append(S.fRows, nr)
		p.Embed(x, idT, table, nr)
		b.norm(p, c, y, x, w, bias, nr)
	}
	if err := p.Submit(); err != nil {
		S.releaseFinal()
		return nil, err
	}
	out := make([]float32, 0, R*H)
	for i, y := range S.final {
		v, err := b.d.ReadF32(y, S.fRows[i]*H)
		if err != nil {
			S.releaseFinal()
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// HeadMatMul multiplies the rows of the last Final by w, a chunk of
// vocabulary rows of the output matrix, uploaded as its file's bytes, and
// adds bias: the logits [rows, w.Rows] (model.HeadBackend).
func (b *Backend) HeadMatMul(s model.State, w *model.Weight, bias []float32) (_ []float32, err error) {
	defer compute.Recover(&err, "lm_head")
	S, ok := s.(*state)
	if !ok {
		return nil, fmt.Errorf("gpu backend: state %T is not the gpu backend's", s)
	}
	H, V := S.c.Hidden, w.Rows
	if w.Cols != H {
		return nil, fmt.Errorf("gpu backend: %s has %d columns for hidden size %d", w.Name, w.Cols, H)
	}
	if bias != nil && len(bias) != V {
		return nil, fmt.Errorf("gpu backend: %d bias values for %d vocabulary rows", len(bias), V)
	}
	R := 0
	for _, nr := range S.fRows {
		R += nr
	}
	if R == 0 || V == 0 {
		return make([]float32, R*V), nil
	}
	r := &layerRun{d: b.d, maxB: b.maxBinding()}
	defer r.release()
	W := r.mat(w)
	var biasT *compute.Tensor
	if bias != nil && r.err == nil {
		if biasT, r.err = b.d.UploadF32(bias); r.err == nil {
			r.keep(biasT)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	// Each block of final rows in sub-blocks whose logits fit a binding.
	per := max(1, int(r.maxB/uint64(4*V)))
	var ys []*compute.Tensor
	var yRows []int
	p, err := b.d.NewPass()
	if err != nil {
		return nil, err
	}
	for i, x := range S.final {
		for lo := 0; lo < S.fRows[i]; lo += per {
			nr := min(per, S.fRows[i]-lo)
			y := r.buf(nr*V, "logits")
			if r.err != nil {
				p.Fail(r.err)
				break
			}
			ys, yRows = append(ys, y), append(yRows, nr)
			p.MatMul(y, x, W, compute.MM{N: nr, K: H, XRow: lo, Bias: biasT})
		}
	}
	if err := p.Submit(); err != nil {
		return nil, err
	}
	out := make([]float32, 0, R*V)
	for i, y := range ys {
		v, err := b.d.ReadF32(y, yRows[i]*V)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

var (
	_ model.Backend     = (*Backend)(nil)
	_ model.HeadBackend = (*Backend)(nil)
)
