package model

import (
	"fmt"
	"math"

	"github.com/cusprun/cusprun/core/ops"
)

// LayerHook, when given to Run, receives each layer's weights and the
// statistics the backend gathered for it, before the weights are dropped.
type LayerHook func(L *Layer, st *Stats) error

// Progress, when set, hears about each finished layer.
type Progress func(layer, layers int)

// Batch is documents packed one after another, as the backends take them.
type Batch struct {
	IDs  []int
	Docs []ops.Span
	// Cache, when set, makes the batch one document that continues the
	// sequence the cache holds (Docs[0].Past = Cache.Len()); the backend
	// must be the CacheBackend that made it. Generation runs this way.
	Cache Cache
}

// Pack lays documents end to end.
func Pack(docs [][]int) Batch {
	var b Batch
	for _, d := range docs {
		b.Docs = append(b.Docs, ops.Span{Start: len(b.IDs), Len: len(d)})
		b.IDs = append(b.IDs, d...)
	}
	return b
}

// Run embeds the batch and pushes it through every decoder layer, reading
// one layer's weights at a time. With a hook it gathers unit statistics. The
// returned state holds the last hidden states; free it with be.Free. It is
// the one forward pass: scoring, NLL, logits and (with a Cache) generation
// all run through it.
func (m *Model) Run(be Backend, b Batch, hook LayerHook, progress Progress) (State, error) {
	c := m.Config
	for i, d := range b.Docs {
		if d.Len == 0 {
			return nil, fmt.Errorf("document %d has no tokens", i)
		}
		if n := c.Context(); d.Past+d.Len > n && n > 0 {
			return nil, fmt.Errorf("document %d has %d tokens, more than the model's %s of %d", i, d.Past+d.Len, c.contextName(), n)
		}
	}
	h, err := m.Embed(b.IDs)
	if err != nil {
		return nil, err
	}
	var s State
	if b.Cache != nil {
		cb, ok := be.(CacheBackend)
		if !ok {
			return nil, fmt.Errorf("the %s backend keeps no KV cache: generate on the cpu", be.Name())
		}
		s, err = cb.StartCached(c, h, b.Docs, b.Cache)
	} else {
		s, err = be.Start(c, h, b.Docs)
	}
	if err != nil {
		return nil, err
	}
	// For small layers the next one is read (and, for backends that want
	// it, prepared) while this one computes, so file reading and dtype
	// widening overlap the matmuls. Big layers are read in turn: two of
	// them at once would break the memory bound of one layer.
	type loaded struct {
		L   *Layer
		err error
	}
	prep, _ := be.(Preparer)
	load := func(l int) loaded {
		L, err := m.LoadLayer(l)
		if err == nil && prep != nil {
			prep.Prepare(L)
		}
		return loaded{L, err}
	}
	fetch := func(l int) chan loaded {
		ch := make(chan loaded, 1)
		go func() { ch <- load(l) }()
		return ch
	}
	first := load(0)
	ahead := first.err == nil && first.L.rawBytes() <= aheadBytes
	var next chan loaded
	for l := 0; l < c.Layers; l++ {
		var got loaded
		switch {
		case l == 0:
			got, first = first, loaded{} // do not keep layer 0 alive
		case ahead:
			got = <-next
		default:
			got = load(l)
		}
		if ahead && l+1 < c.Layers {
			next = fetch(l + 1)
		}
		L, err := got.L, got.err
		if err != nil {
			be.Free(s)
			return nil, err
		}
		var st *Stats
		if hook != nil {
			st = NewStats(L, c.HeadDim, len(b.Docs))
		}
		if err := be.Layer(s, L, st); err != nil {
			be.Free(s)
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		if hook != nil {
			if err := hook(L, st); err != nil {
				be.Free(s)
				return nil, err
			}
		}
		if progress != nil {
			progress(l+1, c.Layers)
		}
	}
	return s, nil
}

// aheadBytes is the largest layer (in file bytes) read ahead of use.
const aheadBytes = 64 << 20

// vocabChunk is how many output rows are read and multiplied at a time, so
// a 150k-row lm_head never sits in memory as float32 whole.
const vocabChunk = 4096

// Logits computes the logits of the given rows of a finished batch,
// streaming the output matrix from the file in chunks of vocabulary rows
// (multiplied by the backend when it is a HeadBackend, by ops.MatMul if not).
// For each chunk, fn gets [lo, hi) and the logits of every row for those
// vocabulary entries ([len(rows), hi-lo], row-major).
func (m *Model) Logits(be Backend, s State, hd *Head, rows []int, fn func(lo, hi int, logits []float32)) error {
	c := m.Config
	x, err := be.Final(s, hd, rows)
	if err != nil {
		return err
	}
	outName := m.name(RoleLMHead, -1)
	if c.Tied {
		outName = m.name(RoleEmbed, -1)
	}
	info, _ := m.Store.Lookup(outName)
	R := len(rows)
	hb, onBackend := be.(HeadBackend)
	var buf []float32 // ops.MatMul's output, reused from chunk to chunk
	for lo := 0; lo < c.Vocab; lo += vocabChunk {
		hi := min(lo+vocabChunk, c.Vocab)
		w, err := m.readRows(outName, info, lo, hi-lo)
		if err != nil {
			return err
		}
		var bias []float32
		if hd.OutB != nil {
			bias = hd.OutB.F32()[lo:hi]
		}
		var y []float32
		if onBackend {
			// The backend multiplies the rows it kept from Final.
			if y, err = hb.HeadMatMul(s, w, bias); err != nil {
				return err
			}
			if len(y) != R*(hi-lo) {
				return fmt.Errorf("%s: %d logits for %d rows of %d vocabulary entries", be.Name(), len(y), R, hi-lo)
			}
		} else {
			if buf == nil {
				buf = make([]float32, R*vocabChunk)
			}
			y = buf[:R*(hi-lo)]
			ops.MatMul(y, x, w.F32(), bias, R, c.Hidden, hi-lo)
		}
		fn(lo, hi, y)
	}
	return nil
}

// LoadHeadNorm reads the final norm (and the lm_head bias); the output
// matrix itself is streamed by Logits.
func (m *Model) LoadHeadNorm() (*Head, error) {
	c := m.Config
	h := &Head{}
	var err error
	if h.Norm, err = m.read(RoleFinalNorm, -1); err != nil {
		return nil, err
	}
	if c.LayerNorm {
		if h.NormB, err = m.read(RoleFinalNormB, -1); err != nil {
			return nil, err
		}
	}
	if c.HeadBias {
		if h.OutB, err = m.read(RoleLMHeadB, -1); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// AllLogits runs one sequence and returns the logits at every position
// ([len(ids), vocab]); for tests and small comparisons.
func (m *Model) AllLogits(be Backend, ids []int) ([]float32, error) {
	s, err := m.Run(be, Pack([][]int{ids}), nil, nil)
	if err != nil {
		return nil, err
	}
	defer be.Free(s)
	hd, err := m.LoadHeadNorm()
	if err != nil {
		return nil, err
	}
	V := m.Config.Vocab
	rows := make([]int, len(ids))
	for i := range rows {
		rows[i] = i
	}
	out := make([]float32, len(ids)*V)
	err = m.Logits(be, s, hd, rows, func(lo, hi int, y []float32) {
		for r := range rows {
			copy(out[r*V+lo:r*V+hi], y[r*(hi-lo):(r+1)*(hi-lo)])
		}
	})
	return out, err
}

// LastLogits returns the logits after the last token of ids.
func (m *Model) LastLogits(be Backend, ids []int) ([]float32, error) {
	hd, err := m.LoadHeadNorm()
	if err != nil {
		return nil, err
	}
	return m.lastLogits(be, Pack([][]int{ids}), hd)
}

// NLL is the negative log-likelihood of each document's tokens after the
// first: every document is predicted alone (its own positions from 0).
// It returns the summed NLL per document and the number of predicted tokens.
func (m *Model) NLL(be Backend, docs [][]int, progress Progress) (sum []float64, count []int, err error) {
	return m.NLLFrom(be, docs, nil, progress)
}

// NLLFrom is NLL counting, in document d, only the tokens at positions
// from[d] and later (a multiple-choice answer after its question); nil
// from counts every token after the first.
func (m *Model) NLLFrom(be Backend, docs [][]int, from []int, progress Progress) (sum []float64, count []int, err error) {
	b := Pack(docs)
	s, err := m.Run(be, b, nil, progress)
	if err != nil {
		return nil, nil, err
	}
	defer be.Free(s)
	hd, err := m.LoadHeadNorm()
	if err != nil {
		return nil, nil, err
	}
	var rows, target, owner []int
	for d, sp := range b.Docs {
		first := 0
		if from != nil {
			first = max(from[d]-1, 0)
		}
		for i := first; i+1 < sp.Len; i++ {
			rows = append(rows, sp.Start+i)
			target = append(target, b.IDs[sp.Start+i+1])
			owner = append(owner, d)
		}
	}
	// Running log-sum-exp per row over the vocabulary chunks. Rows are
	// independent, so they are spread over the cores: with the full
	// vocabulary at every position this loop (an exp per logit) cost as
	// much as the head's matmul when it ran on one core. Each row's
	// arithmetic is the same in any split, so the sums do not depend on
	// the number of cores.
	mx := make([]float64, len(rows))
	se := make([]float64, len(rows))
	tl := make([]float64, len(rows))
	for i := range mx {
		mx[i] = math.Inf(-1)
	}
	err = m.Logits(be, s, hd, rows, func(lo, hi int, y []float32) {
		w := hi - lo
		ops.Parallel(len(rows), 8, func(a, b int) {
			for r := a; r < b; r++ {
				lseRow(y[r*w:(r+1)*w], r, lo, target[r], mx, se, tl)
			}
		})
	})
	if err != nil {
		return nil, nil, err
	}
	sum = make([]float64, len(docs))
	count = make([]int, len(docs))
	for r := range rows {
		sum[owner[r]] += mx[r] + math.Log(se[r]) - tl[r]
		count[owner[r]]++
	}
	return sum, count, nil
}

// lseRow folds one row's logits for vocabulary entries [lo, lo+len(row))
// into its running maximum mx[r] and sum of exponentials se[r] (relative to
// mx[r]), and records the target's logit when it falls in the chunk. The
// maximum is taken in float32, which picks the same value as in float64.
func lseRow(row []float32, r, lo, target int, mx, se, tl []float64) {
	if len(row) == 0 {
		return
	}
	m32 := row[0]
	nan := false
	for _, v := range row {
		if v > m32 {
			m32 = v
		} else if v != v {
			nan = true
		}
	}
	cm := max(mx[r], float64(m32))
	if nan {
		cm = math.NaN()
	}
	acc := se[r] * math.Exp(mx[r]-cm)
	for _, v := range row {
		acc += math.Exp(float64(v) - cm)
	}
	mx[r], se[r] = cm, acc
	if t := target - lo; t >= 0 && t < len(row) {
		tl[r] = float64(row[t])
	}
}
