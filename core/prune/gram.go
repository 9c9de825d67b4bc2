package prune

import "github.com/cusprun/cusprun/core/ops"

// gram accumulates, over rows x of width d (one row per token), the Gram
// matrix XᵀX and the column sums of X in float64: what a least-squares refit
// of the weights that read X needs (compensate.go). The products are summed
// in float32 over blocks of ops.GramBlock tokens of one document and the
// blocks are added in float64 (ops.GramUpper), so rounding grows with the
// block, not with the whole calibration set, and the blocks are the same
// however the documents are batched or shared between workers (add).
//
// When the refit's kept inputs are known before the pass (every layer but
// an experimental reselection), the matrix is held in the refit's order,
// kept inputs first, and only its rows for the kept inputs: refitOrdered
// reads nothing else, and the removed inputs against each other are never
// summed. That is len(keep)·d float64, less than d², and the refit factors
// it in place.
type gram struct {
	d     int
	order []int // the columns in the matrix's order; nil: natural
	rows  int   // rows held: len(keep), or d in the natural order
	g     []float64
	sum   []float64 // natural order
	n     int
	// centred says g holds XᵀX − n μμᵀ (centre), the Gram matrix of the
	// inputs less their mean, which a fit with an intercept reads.
	centred bool
	// mirrored says full has filled the lower triangle.
	mirrored bool

	// The batch in flight (batch, add): its documents, the next row, the
	// document that row is in, and the rows of an unfinished block.
	spans    []ops.Span
	row, doc int
	pend     []float32
	pendN    int
}

// newGram holds the rows of keep (then the other columns) or, with keep
// nil, the whole matrix in the natural order.
func newGram(d int, keep []int) *gram {
	g := &gram{d: d, rows: d, sum: make([]float64, d)}
	if keep != nil {
		g.order = append(append([]int(nil), keep...), removed(keep, d)...)
		g.rows = len(keep)
		if len(keep) == d {
			// Nothing removed: the refit keeps the weights, no matrix needed.
			g.rows = 0
		}
	}
	g.g = make([]float64, g.rows*d)
	return g
}

// batch starts a batch of documents (rows in token order, as spans says):
// add then takes its rows, in one call or in several.
func (g *gram) batch(spans []ops.Span) {
	g.spans, g.row, g.doc, g.pendN = spans, 0, 0, 0
}

// add takes the batch's next n rows of x ([n, d]). The float32 blocks of
// the sums (ops.GramUpper) are counted from each document's first token,
// so no block spans two documents and the matrix is the same however the
// documents are batched, split between workers (Shard) or handed over in
// parts (the GPU backend): the page's workers and the CLI sum the same
// blocks. Rows of a block that a call leaves unfinished wait in pend
// (at most one block). Without a batch (batch not called) the rows are one
// document.
func (g *gram) add(x []float32, n int) {
	d := g.d
	if g.spans == nil {
		ops.GramUpper(g.g, d, g.rows, x, d, n, g.order)
	}
	for r := 0; r < n && g.spans != nil; {
		for g.doc < len(g.spans)-1 && g.row >= g.spans[g.doc].Start+g.spans[g.doc].Len {
			g.doc++
		}
		sp := g.spans[g.doc]
		p := g.row - sp.Start                    // the position in the document
		inDoc := min(n-r, sp.Start+sp.Len-g.row) // this call's rows of the document
		if inDoc <= 0 {
			panic("prune: gram.add past the batch's documents")
		}
		if g.pendN == 0 && p%ops.GramBlock == 0 {
			// Whole blocks (and the document's last, short one) straight
			// from x.
			take := inDoc
			if p+inDoc < sp.Len {
				take -= take % ops.GramBlock
			}
			if take > 0 {
				ops.GramUpper(g.g, d, g.rows, x[r*d:(r+take)*d], d, take, g.order)
				r, g.row = r+take, g.row+take
				continue
			}
		}
		// Part of a block: gather it until the block (or the document) ends.
		blockEnd := min(sp.Len, (p/ops.GramBlock+1)*ops.GramBlock)
		take := min(inDoc, blockEnd-p)
		if g.pend == nil {
			g.pend = make([]float32, ops.GramBlock*d)
		}
		copy(g.pend[g.pendN*d:], x[r*d:(r+take)*d])
		g.pendN += take
		r, g.row = r+take, g.row+take
		if p+take == blockEnd {
			ops.GramUpper(g.g, d, g.rows, g.pend, d, g.pendN, g.order)
			g.pendN = 0
		}
	}
	for t := 0; t < n; t++ {
		for i, v := range x[t*d : (t+1)*d] {
			g.sum[i] += float64(v)
		}
	}
	g.n += n
}

// full mirrors the upper triangle into the lower one (once) and returns
// the symmetric matrix; call it after the last add (and after centre), on a
// matrix in the natural order.
func (g *gram) full() []float64 {
	if g.order != nil {
		panic("prune: gram.full on a matrix in a refit's order")
	}
	if g.mirrored {
		return g.g
	}
	g.mirrored = true
	d := g.d
	// By tiles, so that the column writes stay in cache.
	const tile = 64
	for i0 := 0; i0 < d; i0 += tile {
		for j0 := i0; j0 < d; j0 += tile {
			for i := i0; i < min(i0+tile, d); i++ {
				for j := max(j0, i+1); j < min(j0+tile, d); j++ {
					g.g[j*d+i] = g.g[i*d+j]
				}
			}
		}
	}
	return g.g
}

// mean is the mean row.
func (g *gram) mean() []float64 {
	m := make([]float64, g.d)
	for i, s := range g.sum {
		m[i] = s / float64(max(g.n, 1))
	}
	return m
}

// centre subtracts n μμᵀ from the matrix it holds (in its order), once.
func (g *gram) centre() {
	if g.centred {
		return
	}
	g.centred = true
	mean := g.mean()
	n := float64(g.n)
	d := g.d
	at := func(i int) int { return i }
	if g.order != nil {
		at = func(i int) int { return g.order[i] }
	}
	for i := 0; i < g.rows; i++ {
		mi := n * mean[at(i)]
		row := g.g[i*d : (i+1)*d]
		for j := range row {
			row[j] -= mi * mean[at(j)]
		}
	}
}
