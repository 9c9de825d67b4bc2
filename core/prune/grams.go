package prune

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/ops"
)

// Grams are every layer's Gram matrices of the o_proj and down_proj
// inputs, accumulated during the scoring pass itself (ScoreWithGrams) so
// that compensation needs no second forward pass: its cost is then the
// Gram products inside scoring plus the solves.
//
// The kept units are not known while scoring, so each matrix is the whole
// upper triangle in the natural order, d(d+1)/2 float64, which costs about
// what the kept rows alone do (at ratio 0.2, 0.5·d² against 0.48·d²). One
// layer's matrices are in memory at a time; when the layer has been seen
// by every batch they are written to the spill file (a temporary file) and
// dropped, and Compensate reads each back, in the refit's order for the
// plan it is given, one layer at a time. So memory stays one layer's Gram
// matrices; the file holds L·d²/2 float64 (2.3 GB for Qwen2.5-0.5B).
type Grams struct {
	spill interface {
		io.WriterAt
		io.ReaderAt
	}
	off    int64
	layers [][2]storedGram // [o_proj, down_proj] per layer
}

type storedGram struct {
	d, n int
	sum  []float64
	off  int64
}

// put writes g's upper triangle (natural order), row i from column i.
func (gs *Grams) put(l, which int, g *gram) error {
	if g.order != nil || g.rows != g.d {
		panic("prune: Grams.put on a matrix in a refit's order")
	}
	d := g.d
	sg := storedGram{d: d, n: g.n, sum: g.sum, off: gs.off}
	buf := make([]byte, 0, 1<<20)
	flush := func() error {
		if _, err := gs.spill.WriteAt(buf, gs.off); err != nil {
			return fmt.Errorf("scoring: spilling the Gram matrix of layer %d: %w", l, err)
		}
		gs.off += int64(len(buf))
		buf = buf[:0]
		return nil
	}
	for i := 0; i < d; i++ {
		for _, v := range g.g[i*d+i : (i+1)*d] {
			if len(buf)+8 > cap(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
	}
	if err := flush(); err != nil {
		return err
	}
	gs.layers[l][which] = sg
	return nil
}

// get reads layer l's matrix back as Compensate's accumulation would have
// built it for these kept inputs: rows of the kept inputs, columns in the
// order kept then removed, on and above the diagonal (newGram's layout).
func (gs *Grams) get(l, which int, keep []int) (*gram, error) {
	sg := gs.layers[l][which]
	d := sg.d
	g := &gram{d: d, rows: len(keep), sum: sg.sum, n: sg.n}
	g.order = append(append([]int(nil), keep...), removed(keep, d)...)
	if len(keep) == d {
		g.rows = 0
	}
	g.g = make([]float64, g.rows*d)
	if g.rows == 0 {
		return g, nil
	}
	pos := make([]int, d)
	for a, j := range g.order {
		pos[j] = a
	}
	err := gs.upperRows(l, which, func(i int, b []byte) {
		pi := pos[i]
		for j := i; j < d; j++ {
			v := math.Float64frombits(binary.LittleEndian.Uint64(b[8*(j-i):]))
			a, c := pi, pos[j]
			if a > c {
				a, c = c, a
			}
			if a < g.rows {
				g.g[a*d+c] = v
			}
		}
	})
	return g, err
}

// whole reads layer l's matrix back whole, in the natural order (both
// triangles once full is called), for a reselection (reselect.go).
func (gs *Grams) whole(l, which int) (*gram, error) {
	sg := gs.layers[l][which]
	d := sg.d
	g := &gram{d: d, rows: d, sum: sg.sum, n: sg.n, g: make([]float64, d*d)}
	err := gs.upperRows(l, which, func(i int, b []byte) {
		for j := i; j < d; j++ {
			g.g[i*d+j] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*(j-i):]))
		}
	})
	return g, err
}

// upperRows reads layer l's stored matrix back one row at a time, as put
// wrote it: row i's entries from column i on, d−i float64, handed to each.
func (gs *Grams) upperRows(l, which int, each func(i int, b []byte)) error {
	sg := gs.layers[l][which]
	d := sg.d
	row := make([]byte, 8*d)
	off := sg.off
	for i := 0; i < d; i++ {
		b := row[:8*(d-i)]
		if _, err := gs.spill.ReadAt(b, off); err != nil {
			return fmt.Errorf("compensation: reading back the Gram matrix of layer %d: %w", l, err)
		}
		off += int64(len(b))
		each(i, b)
	}
	return nil
}

// ScoreWithGrams is Score, layer by layer instead of batch by batch (the
// same statistics, so the same scores bit for bit: each layer sees the
// batches in the same order), and it also keeps every layer's Gram
// matrices in spill for Compensate (CompensateOptions.Grams). The
// calibration hidden states of all batches are held between layers, as
// Compensate holds them. If writing to spill fails (a full disk), scoring
// goes on without the matrices and returns nil Grams: compensation then
// takes its own pass. With spill nil the matrices stay in memory (where
// there are no temporary files, for small models), as
// CompensateOptions.Spill's refitted tensors do.
func ScoreWithGrams(ctx context.Context, m *model.Model, be model.Backend, seqs [][]int, spill interface {
	io.WriterAt
	io.ReaderAt
}, progress Progress) (*Scorer, *Grams, error) {
	c := m.Config
	sc := NewScorer(c)
	if spill == nil {
		spill = &memSpill{}
	}
	gs := &Grams{spill: spill, layers: make([][2]storedGram, c.Layers)}
	cb, err := startBatches(m, be, seqs)
	if err != nil {
		return nil, nil, err
	}
	defer cb.free(be)
	n := len(cb.states)
	prep, _ := be.(model.Preparer)
	for l := 0; l < c.Layers; l++ {
		L, err := m.LoadLayer(l)
		if err != nil {
			return nil, nil, err
		}
		if prep != nil {
			prep.Prepare(L)
		}
		var gz, ga *gram
		if gs != nil {
			gz, ga = newGram(L.Heads*c.HeadDim, nil), newGram(L.FFN, nil)
		}
		for i, s := range cb.states {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			st := model.NewStats(L, c.HeadDim, cb.docs[i])
			if gs != nil {
				gz.batch(cb.spans[i])
				ga.batch(cb.spans[i])
				st.OInputs = func(z []float32, n int) { gz.add(z, n) }
				st.DownInputs = func(a []float32, n int) { ga.add(a, n) }
			}
			if err := be.Layer(s, L, st); err != nil {
				return nil, nil, fmt.Errorf("layer %d: %w", l, err)
			}
			sc.add(L, st)
			if progress != nil {
				progress("score", l*n+i+1, c.Layers*n)
			}
		}
		if gs == nil {
			continue
		}
		if gz.n != ga.n || ga.n != cb.tokens {
			return nil, nil, fmt.Errorf("scoring, layer %d: the %s backend reported the inputs of %d and %d of %d tokens", l, be.Name(), gz.n, ga.n, cb.tokens)
		}
		if gs.put(l, 0, gz) != nil || gs.put(l, 1, ga) != nil {
			gs = nil
		}
	}
	return sc, gs, nil
}

// calibBatches are the calibration batches started on a backend, kept
// between layers by the layer-by-layer passes.
type calibBatches struct {
	states []model.State
	docs   []int // documents per batch
	spans  [][]ops.Span
	tokens int
}

func startBatches(m *model.Model, be model.Backend, seqs [][]int) (*calibBatches, error) {
	c := m.Config
	bs := Batches(seqs, BatchTokensFor(c))
	cb := &calibBatches{}
	for _, b := range bs {
		pb := model.Pack(b)
		for i, d := range pb.Docs {
			if n := c.Context(); d.Len == 0 || (n > 0 && d.Len > n) {
				cb.free(be)
				return nil, fmt.Errorf("document %d has %d tokens, outside 1 to the model's context of %d", i, d.Len, n)
			}
		}
		h, err := m.Embed(pb.IDs)
		if err != nil {
			cb.free(be)
			return nil, err
		}
		s, err := be.Start(c, h, pb.Docs)
		if err != nil {
			cb.free(be)
			return nil, err
		}
		cb.states = append(cb.states, s)
		cb.docs = append(cb.docs, len(b))
		cb.spans = append(cb.spans, pb.Docs)
		cb.tokens += len(pb.IDs)
	}
	return cb, nil
}

func (cb *calibBatches) free(be model.Backend) {
	for _, s := range cb.states {
		be.Free(s)
	}
	cb.states = nil
}

// memSpill is a growable in-memory io.WriterAt and io.ReaderAt.
type memSpill struct{ b []byte }

func (m *memSpill) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memSpill) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
