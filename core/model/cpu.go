package model

import (
	"fmt"

	"github.com/cusprun/cusprun/core/ops"
)

// CPU is the reference backend: plain Go over float32, all cores.
type CPU struct{}

func (CPU) Name() string { return "cpu" }

type cpuState struct {
	c     *Config
	h     []float32
	docs  []ops.Span
	cache *cpuCache
	n     int
}

func (b CPU) Start(c *Config, h []float32, docs []ops.Span) (State, error) {
	return b.start(c, h, docs, nil)
}

// cpuCache holds every layer's keys and values of one sequence.
type cpuCache struct {
	k, v  [][]float32 // per layer, [positions, kvHeads*headDim]
	width int         // layer 0's kvHeads*headDim
}

// Len is the number of cached positions (layer 0's, which each batch
// extends first).
func (k *cpuCache) Len() int { return len(k.k[0]) / k.width }

// NewCache returns an empty KV cache for one sequence of model c.
func (CPU) NewCache(c *Config) Cache {
	return &cpuCache{k: make([][]float32, c.Layers), v: make([][]float32, c.Layers), width: c.KVHeadsAt(0) * c.HeadDim}
}

// StartCached starts a batch of one document that continues the sequence in
// cache (its Span.Past must equal the cached length); Layer appends the new
// keys and values.
func (b CPU) StartCached(c *Config, h []float32, docs []ops.Span, cache Cache) (State, error) {
	cc, ok := cache.(*cpuCache)
	if !ok {
		return nil, fmt.Errorf("cpu backend: cache %T is not the cpu backend's", cache)
	}
	if len(docs) != 1 || docs[0].Past != cc.Len() {
		return nil, fmt.Errorf("cpu backend: a KV cache continues exactly one document at its cached length")
	}
	return b.start(c, h, docs, cc)
}

func (CPU) start(c *Config, h []float32, docs []ops.Span, cache *cpuCache) (State, error) {
	n := 0
	for _, d := range docs {
		if cache == nil && d.Past != 0 {
			return nil, fmt.Errorf("cpu backend: a document continues at position %d without a KV cache", d.Past)
		}
		n += d.Len
	}
	if len(h) != n*c.Hidden {
		return nil, fmt.Errorf("cpu backend: %d hidden values for %d tokens of width %d", len(h), n, c.Hidden)
	}
	return &cpuState{c: c, h: h, docs: docs, n: n, cache: cache}, nil
}

func (CPU) Free(State) {}

// Prepare widens the layer's weights to float32 ahead of use.
func (CPU) Prepare(L *Layer) {
	for _, rw := range L.Weights() {
		rw.W.F32()
	}
}

func (CPU) Final(s State, hd *Head, rows []int) ([]float32, error) {
	st := s.(*cpuState)
	H := st.c.Hidden
	x := make([]float32, len(rows)*H)
	for i, r := range rows {
		copy(x[i*H:(i+1)*H], st.h[r*H:(r+1)*H])
	}
	norm(st.c, x, x, hd.Norm, hd.NormB, len(rows))
	return x, nil
}

// norm applies the family's norm (RMSNorm, or LayerNorm with bias).
func norm(c *Config, y, x []float32, w, b *Weight, n int) {
	if c.LayerNorm {
		ops.LayerNorm(y, x, w.F32(), b.F32(), n, c.Hidden, c.NormEps)
	} else {
		ops.RMSNorm(y, x, w.F32(), n, c.Hidden, c.NormEps)
	}
}

// Layer is the decoder block, read top to bottom:
//
//	xn = norm(h)
//	q, k, v = xn Wq, xn Wk, xn Wv (+ biases); per-head q/k norm (qwen3); rope
//	z = causal GQA attention; h += z Wo (+ bias)
//	h += mlp(norm(h))                       (or mlp(xn), in parallel, for phi)
func (CPU) Layer(s State, L *Layer, st *Stats) error {
	S := s.(*cpuState)
	c, n, H, hd := S.c, S.n, S.c.Hidden, S.c.HeadDim
	nq, nkv := L.Heads*hd, L.KVHeads*hd
	h := S.h

	xn := make([]float32, n*H)
	norm(c, xn, h, L.AttnNorm, L.AttnNormB, n)

	q := make([]float32, n*nq)
	k := make([]float32, n*nkv)
	v := make([]float32, n*nkv)
	ops.MatMul(q, xn, L.Q.F32(), L.QB.F32(), n, H, nq)
	ops.MatMul(k, xn, L.K.F32(), L.KB.F32(), n, H, nkv)
	ops.MatMul(v, xn, L.V.F32(), L.VB.F32(), n, H, nkv)
	if c.QKNorm {
		ops.RMSNorm(q, q, L.QNorm.F32(), n*L.Heads, hd, c.NormEps)
		ops.RMSNorm(k, k, L.KNorm.F32(), n*L.KVHeads, hd, c.NormEps)
	}
	for _, d := range S.docs {
		pos := positions(d)
		inv := c.InvFreq(d.Past + d.Len)
		ops.Rope(q[d.Start*nq:], pos, d.Len, L.Heads, hd, c.Rope.Dim, inv, c.RopeScale())
		ops.Rope(k[d.Start*nkv:], pos, d.Len, L.KVHeads, hd, c.Rope.Dim, inv, c.RopeScale())
	}
	z := make([]float32, n*nq)
	if S.cache != nil {
		pk, pv := S.cache.k[L.Index], S.cache.v[L.Index]
		if len(pk) != S.docs[0].Past*nkv {
			return fmt.Errorf("cpu backend: layer %d's KV cache holds %d positions, the batch continues at %d", L.Index, len(pk)/nkv, S.docs[0].Past)
		}
		ops.Attention(z, q, k, v, S.docs, [][]float32{pk}, [][]float32{pv}, L.Heads, L.KVHeads, hd)
		S.cache.k[L.Index], S.cache.v[L.Index] = append(pk, k...), append(pv, v...)
	} else {
		ops.Attention(z, q, k, v, S.docs, nil, nil, L.Heads, L.KVHeads, hd)
	}

	attn := make([]float32, n*H)
	if st != nil && st.OInputs != nil {
		st.OInputs(z, n)
	}
	if st != nil {
		// Group by group whenever statistics are taken, also for inputs
		// only: compensation's pass then sees the very hidden states the
		// scoring pass saw, so its refit equals the one-pass route's.
		acc := st.AttnDoc
		if st.InputsOnly {
			acc = nil
		} else {
			ops.ColumnSums(st.OSum, st.OSq, z, n, nq)
		}
		groupOutputs(attn, z, L.O.F32(), S.docs, acc, n, H, L.KVHeads, nq/L.KVHeads)
		if L.OB != nil {
			addBias(attn, L.OB.F32(), n)
		}
	} else {
		ops.MatMul(attn, z, L.O.F32(), L.OB.F32(), n, nq, H)
	}

	if c.Parallel {
		m := mlp(c, L, xn, S, st)
		ops.Add(h, attn)
		ops.Add(h, m)
	} else {
		ops.Add(h, attn)
		norm(c, xn, h, L.FFNNorm, nil, n) // an RMSNorm: LayerNorm blocks are parallel
		ops.Add(h, mlp(c, L, xn, S, st))
	}
	if st != nil {
		st.Tokens += n
	}
	return nil
}

// mlp is SwiGLU (gate, up, down) or, for phi, fc1 -> GELU -> fc2.
func mlp(c *Config, L *Layer, x []float32, S *cpuState, st *Stats) []float32 {
	n, H, F := S.n, c.Hidden, L.FFN
	a := make([]float32, n*F)
	ops.MatMul(a, x, L.Up.F32(), L.UpB.F32(), n, H, F)
	if L.Gate != nil {
		g := make([]float32, n*F)
		ops.MatMul(g, x, L.Gate.F32(), nil, n, H, F)
		ops.SwiGLU(a, g, a)
	} else {
		ops.GeluTanh(a)
	}
	if st != nil && !st.InputsOnly {
		ops.SumSquaresByDoc(st.FFNDoc, a, S.docs, F)
		ops.ColumnSums(st.FFNSum, st.FFNSq, a, n, F)
	}
	if st != nil && st.DownInputs != nil {
		st.DownInputs(a, n)
	}
	out := make([]float32, n*H)
	ops.MatMul(out, a, L.Down.F32(), L.DownB.F32(), n, F, H)
	return out
}

// groupOutputs computes o_proj one KV group at a time, y_u = z_u Wo_u^T,
// summing the parts into out (the full o_proj output without bias) and
// adding each document's ||y_u||^2 into acc[d][u] (unless acc is nil). It costs the same
// multiply-adds as one o_proj.
func groupOutputs(out, z, wo []float32, docs []ops.Span, acc [][]float32, n, H, groups, gw int) {
	nq := groups * gw
	zu := make([]float32, n*gw)
	wu := make([]float32, H*gw)
	yu := make([]float32, n*H)
	for u := 0; u < groups; u++ {
		for t := 0; t < n; t++ {
			copy(zu[t*gw:(t+1)*gw], z[t*nq+u*gw:t*nq+(u+1)*gw])
		}
		for j := 0; j < H; j++ {
			copy(wu[j*gw:(j+1)*gw], wo[j*nq+u*gw:j*nq+(u+1)*gw])
		}
		ops.MatMul(yu, zu, wu, nil, n, gw, H)
		ops.Add(out, yu)
		if acc == nil {
			continue
		}
		for d, doc := range docs {
			var ss float32
			for _, v := range yu[doc.Start*H : (doc.Start+doc.Len)*H] {
				ss += v * v
			}
			acc[d][u] += ss
		}
	}
}

func addBias(y, b []float32, n int) {
	w := len(b)
	for t := 0; t < n; t++ {
		ops.Add(y[t*w:(t+1)*w], b)
	}
}

func positions(d ops.Span) []int {
	p := make([]int, d.Len)
	for i := range p {
		p[i] = d.Past + i
	}
	return p
}
