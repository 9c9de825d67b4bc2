package prune

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/tensor"
)

// Pruning removes units but leaves the kept weights as they were; the
// weights that write into the residual stream from the kept units can do
// better. Compensate refits them by least squares on the calibration text:
// for every layer, the kept columns of down_proj (fc2) so that the kept
// neurons reproduce, as closely as a linear map can, what all neurons wrote
// (W' = argmin ||A W_downᵀ − A_K W'ᵀ||², A the down_proj inputs), and the
// same for the kept heads' columns of o_proj (inputs z, the concatenated
// heads). Where the family has the bias (phi's fc2 and dense), the fit has
// an intercept: it is solved on centred inputs and the bias takes the mean
// of what changed, which includes the mean contribution of the removed
// units (FLAP's compensation, here as a by-product of the refit).
//
// Memory. The Gram matrix of a layer is only known when every calibration
// token has passed the layer, and the kept units only when every layer has
// been scored; keeping one Gram per layer from the scoring pass would hold
// L·F² float64 (4.5 GB for Qwen2.5-0.5B). So compensation is its own pass
// after selection, layer by layer rather than batch by batch: all
// calibration batches enter layer l (their hidden states are kept, the
// "calibration hidden states" of DESIGN §2), one Gram matrix per projection
// of that layer is accumulated, solved, and dropped before layer l+1 is
// read. What stays is the refitted matrices, in the file's dtype; with
// CompensateOptions.Spill they go to a file instead of memory, so memory
// stays one layer's weights, one layer's Gram matrices and the hidden
// states of the calibration text.
//
// Where a temporary file can hold every layer's Gram matrices, the
// scoring pass itself can keep them (ScoreWithGrams, grams.go) and the
// refit reads them back (CompensateOptions.Grams): no second pass, and
// compensation costs the Gram products inside scoring plus the solves.
//
// The fit uses the dense model's own activations at every layer (each
// layer is fitted to the dense model's output on the dense model's inputs),
// so one forward pass of the source serves every layer.

// CompensateOptions tune the refit.
type CompensateOptions struct {
	// Ridge is λ as a fraction of the mean diagonal of the kept Gram block
	// (DefaultRidge when 0).
	Ridge float64
	// Spill, when set, receives the refitted tensors (a temporary file) so
	// that memory does not grow with the number of layers.
	Spill interface {
		io.WriterAt
		io.ReaderAt
	}
	// Aware (experimental) rechooses each layer's removed FFN neurons by
	// Cus-Prun's rule on importances that count only what the refit
	// cannot repair (rerank.go), and rewrites the plan's kept neurons
	// (the counts stay), in AwareRounds rounds (1 when 0).
	Aware       bool
	AwareRounds int
	// Grams, when set (from ScoreWithGrams on the same calibration
	// sequences), are the Gram matrices of every layer: the refit then
	// reads them instead of running the calibration text through the
	// model again (not with Aware, which takes the second pass).
	Grams *Grams
	// Part and Parts, with Parts above 1, refit only the layers l with
	// l % Parts == Part; the others are only run through (as they must
	// be, to reach the next ones). Parts refitted by separate engines and
	// added up (NewCompensation, Compensation.Add) are, bit for bit, the
	// refit of every layer by one engine: each layer's matrices are summed
	// over the same tokens in the same order. The page's CPU workers
	// split the refit of models too large for its in-memory matrices so.
	Part, Parts int
}

// mine says the options ask for layer l's refit.
func (o CompensateOptions) mine(l int) bool { return o.Parts <= 1 || l%o.Parts == o.Part }

// DefaultRidge is the ridge λ relative to the mean diagonal of G_KK.
const DefaultRidge = 1e-2

// Compensation is the refitted o_proj and down_proj of every layer (and
// their biases where the family has them), for the Slicer.
type Compensation struct {
	plan  *Plan
	spill interface {
		io.WriterAt
		io.ReaderAt
	}
	off     int64
	tensors map[compKey]storedWeight
	// layers are the layers this refit covered (every one, unless it is
	// one part of several: CompensateOptions.Parts); tokens the
	// calibration tokens it was fitted on.
	layers []bool
	tokens int
	// reselected are the layers whose kept FFN neurons the refit chose
	// (Plan.PoolFFN): a part's Save carries them to the joined refit.
	reselected []int
	chosen     map[int][]int // the parts' choices, until Complete
	// PassSeconds is the time of the layer-by-layer forward pass with the
	// Gram accumulation, SolveSeconds that of the refits (and reselection).
	// GramSeconds is the part of PassSeconds spent on the Gram matrices.
	PassSeconds, SolveSeconds, GramSeconds float64
}

type compKey struct {
	layer int
	role  model.Role
}

type storedWeight struct {
	name       string
	dtype      tensor.DType
	rows, cols int
	raw        []byte // nil when spilled
	off, size  int64
}

// Compensate runs the calibration sequences through the source model layer
// by layer and refits, for the plan's kept units, o_proj and down_proj (see
// above). Cancelling ctx stops it between batches.
func Compensate(ctx context.Context, m *model.Model, be model.Backend, seqs [][]int, plan *Plan, opt CompensateOptions, progress Progress) (*Compensation, error) {
	c := m.Config
	if opt.Ridge == 0 {
		opt.Ridge = DefaultRidge
	}
	if len(plan.KeepFFN) != c.Layers || len(plan.KeepGroups) != c.Layers {
		return nil, fmt.Errorf("compensation: the plan has %d layers, the model %d", len(plan.KeepFFN), c.Layers)
	}
	if opt.Parts > 1 && (opt.Part < 0 || opt.Part >= opt.Parts) {
		return nil, fmt.Errorf("compensation: part %d of %d: no such part", opt.Part, opt.Parts)
	}
	comp := &Compensation{plan: plan, spill: opt.Spill, tensors: map[compKey]storedWeight{}, layers: make([]bool, c.Layers)}
	if plan.PoolFFN != nil && len(plan.PoolFFN) != c.Layers {
		return nil, fmt.Errorf("compensation: the plan has pools for %d layers, the model %d", len(plan.PoolFFN), c.Layers)
	}
	if opt.Grams != nil && !opt.Aware {
		if err := comp.fromGrams(ctx, m, opt.Grams, opt, progress); err != nil {
			return nil, err
		}
		return comp, nil
	}
	cb, err := startBatches(m, be, seqs)
	if err != nil {
		return nil, err
	}
	defer cb.free(be)
	states, docs, spans, tokens := cb.states, cb.docs, cb.spans, cb.tokens
	comp.tokens = tokens
	work := newRefitWork(c, plan, tokens, opt)
	work.report(progress)
	prep, _ := be.(model.Preparer)
	for l := 0; l < c.Layers; l++ {
		L, err := m.LoadLayer(l)
		if err != nil {
			return nil, err
		}
		if prep != nil {
			prep.Prepare(L)
		}
		if !opt.mine(l) {
			// Another part's layer: only run through it, with the same
			// arithmetic as the refitted layers (inputs only).
			for i, s := range states {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				st := model.NewStats(L, c.HeadDim, docs[i])
				st.InputsOnly = true
				if err := be.Layer(s, L, st); err != nil {
					return nil, fmt.Errorf("compensation, layer %d: %w", l, err)
				}
				work.batch(l, spanTokens(spans[i]))
				work.report(progress)
			}
			continue
		}
		comp.layers[l] = true
		t0 := time.Now()
		qr := dims(keptHeads(plan.KeepGroups[l], c.Group()), c.HeadDim)
		// The reselection reads the whole FFN matrix; otherwise each holds
		// only the rows the refit reads (gram.go).
		pool := plan.pool(l)
		aware := opt.Aware && L.DownB == nil
		ffnKeep := plan.KeepFFN[l]
		if pool != nil || aware {
			ffnKeep = nil
		}
		var energy [][]float64 // aware: per document, Σ a_k² over its tokens
		if aware {
			energy = make([][]float64, len(seqs))
			for d := range energy {
				energy[d] = make([]float64, L.FFN)
			}
		}
		base := 0 // the first document of the batch in flight
		gz, ga := newGram(L.Heads*c.HeadDim, qr), newGram(L.FFN, ffnKeep)
		for i, s := range states {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			st := model.NewStats(L, c.HeadDim, docs[i])
			st.InputsOnly = true
			gz.batch(spans[i])
			ga.batch(spans[i])
			st.OInputs = func(z []float32, n int) { tg := time.Now(); gz.add(z, n); comp.GramSeconds += time.Since(tg).Seconds() }
			row := 0 // the batch's first row this call reports
			st.DownInputs = func(a []float32, n int) {
				tg := time.Now()
				ga.add(a, n)
				if energy != nil {
					docEnergy(energy[base:], spans[i], a, row, n, L.FFN)
				}
				row += n
				comp.GramSeconds += time.Since(tg).Seconds()
			}
			if err := be.Layer(s, L, st); err != nil {
				return nil, fmt.Errorf("compensation, layer %d: %w", l, err)
			}
			work.batch(l, spanTokens(spans[i]))
			work.report(progress)
			base += docs[i]
		}
		if gz.n != ga.n || ga.n != tokens {
			return nil, fmt.Errorf("compensation, layer %d: the %s backend reported the inputs of %d and %d of %d tokens", l, be.Name(), gz.n, ga.n, tokens)
		}
		t1 := time.Now()
		comp.PassSeconds += t1.Sub(t0).Seconds()
		if err := comp.refit(l, L.O, L.OB, model.RoleO, model.RoleOB, gz, qr, opt.Ridge, nil); err != nil {
			return nil, fmt.Errorf("layer %d o_proj: %w", l, err)
		}
		gz = nil
		var rs *reselection
		if pool != nil {
			if rs, err = comp.reselect(l, L, ga, pool, opt.Ridge); err != nil {
				return nil, err
			}
		} else if aware {
			keep, err := rerankAware(L.Down.F32(), L.Down.Rows, L.FFN, ga.full(), energy, len(plan.KeepFFN[l]), opt.Ridge, opt.AwareRounds)
			if err != nil {
				return nil, fmt.Errorf("layer %d down_proj: %w", l, err)
			}
			plan.KeepFFN[l] = keep
		}
		if err := comp.refit(l, L.Down, L.DownB, model.RoleDown, model.RoleDownB, ga, plan.KeepFFN[l], opt.Ridge, rs); err != nil {
			return nil, fmt.Errorf("layer %d down_proj: %w", l, err)
		}
		comp.SolveSeconds += time.Since(t1).Seconds()
		work.solved(l)
		work.report(progress)
	}
	return comp, nil
}

// spanTokens is the number of tokens of a batch's documents.
func spanTokens(spans []ops.Span) int {
	n := 0
	for _, s := range spans {
		n += s.Len
	}
	return n
}

// fromGrams refits every layer from Gram matrices kept by the scoring
// pass: the same matrices the pass above accumulates, so the same weights.
func (c *Compensation) fromGrams(ctx context.Context, m *model.Model, gs *Grams, opt CompensateOptions, progress Progress) error {
	cfg := m.Config
	ridge := opt.Ridge
	if len(gs.layers) != cfg.Layers {
		return fmt.Errorf("compensation: the Gram matrices are of %d layers, the model has %d", len(gs.layers), cfg.Layers)
	}
	c.tokens = gs.Tokens()
	for l := 0; l < cfg.Layers; l++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !opt.mine(l) {
			continue
		}
		c.layers[l] = true
		L, err := m.LoadLayer(l)
		if err != nil {
			return err
		}
		t0 := time.Now()
		qr := dims(keptHeads(c.plan.KeepGroups[l], cfg.Group()), cfg.HeadDim)
		if d := gs.layers[l]; d[0].d != L.Heads*cfg.HeadDim || d[1].d != L.FFN {
			return fmt.Errorf("compensation, layer %d: the Gram matrices are %d and %d wide, the layer's inputs %d and %d", l, d[0].d, d[1].d, L.Heads*cfg.HeadDim, L.FFN)
		}
		gz, err := gs.get(l, 0, qr)
		if err != nil {
			return err
		}
		if err := c.refit(l, L.O, L.OB, model.RoleO, model.RoleOB, gz, qr, ridge, nil); err != nil {
			return fmt.Errorf("layer %d o_proj: %w", l, err)
		}
		gz = nil
		var ga *gram
		var rs *reselection
		if pool := c.plan.pool(l); pool != nil {
			if ga, err = gs.whole(l, 1); err != nil {
				return err
			}
			if rs, err = c.reselect(l, L, ga, pool, ridge); err != nil {
				return err
			}
		} else if ga, err = gs.get(l, 1, c.plan.KeepFFN[l]); err != nil {
			return err
		}
		if err := c.refit(l, L.Down, L.DownB, model.RoleDown, model.RoleDownB, ga, c.plan.KeepFFN[l], ridge, rs); err != nil {
			return fmt.Errorf("layer %d down_proj: %w", l, err)
		}
		c.SolveSeconds += time.Since(t0).Seconds()
		if progress != nil {
			progress("compensate", l+1, cfg.Layers)
		}
	}
	return nil
}

// keptHeads lists the query heads of the kept groups.
func keptHeads(groups []int, grp int) []int {
	q, _ := heads(groups, grp)
	return q
}

// reselect rechooses layer l's removed FFN neurons among pool (reselect.go)
// on the layer's whole Gram matrix g (natural order; centred first where
// the family has the bias, as the refit's intercept is), writes them to
// the plan and returns the choice with its factor for the refit.
func (c *Compensation) reselect(l int, L *model.Layer, g *gram, pool []int, ridge float64) (*reselection, error) {
	if L.DownB != nil {
		g.centre()
	}
	rs, err := reselect(L.Down.F32(), L.Down.Rows, L.FFN, g.full(), c.plan.KeepFFN[l], pool, ridge)
	g.g = nil // reselect formed its factor in the matrix's place
	if err != nil {
		return nil, fmt.Errorf("layer %d down_proj: %w", l, err)
	}
	c.plan.KeepFFN[l] = rs.keep
	c.reselected = append(c.reselected, l)
	return rs, nil
}

// refit solves one projection and stores its weight (and bias); rs, when
// set, is the reselection that chose keep, whose factor the solve reuses.
func (c *Compensation) refit(l int, w, b *model.Weight, role, biasRole model.Role, g *gram, keep []int, ridge float64, rs *reselection) error {
	if len(keep) == w.Cols {
		// Nothing removed: the refit is the weight itself, which the slicer
		// copies from the source as it is (bytes, quant blocks and bias).
		return nil
	}
	var mean []float64
	if b != nil {
		// Intercept: fit on centred inputs (a reselection has centred
		// them already, and g's matrix is its factor now).
		mean = g.mean()
		if rs == nil {
			g.centre()
		}
	}
	wf := w.F32()
	var nw []float64
	var err error
	if rs != nil {
		nw = rs.refit(wf, w.Rows, w.Cols)
	} else if g.order != nil {
		nw, err = refitOrdered(wf, w.Rows, w.Cols, g.g, g.d, keep, ridge)
	} else {
		nw, err = refitCols(wf, w.Rows, w.Cols, g.full(), keep, ridge)
	}
	if err != nil {
		return err
	}
	k := len(keep)
	vals := make([]float32, len(nw))
	for i, v := range nw {
		vals[i] = float32(v)
	}
	if err := c.store(l, role, w.Name, matrixOut(w.DType), w.Rows, k, vals); err != nil {
		return err
	}
	if b == nil {
		return nil
	}
	// The mean output must not move: b' = b + W μ - W'_K μ_K.
	bias := append([]float32(nil), b.F32()...)
	for i := range bias {
		s := 0.0
		for j := 0; j < w.Cols; j++ {
			s += float64(wf[i*w.Cols+j]) * mean[j]
		}
		for a, j := range keep {
			s -= nw[i*k+a] * mean[j]
		}
		bias[i] += float32(s)
	}
	return c.store(l, biasRole, b.Name, matrixOut(b.DType), 1, len(bias), bias)
}

// matrixOut is the dtype a refitted tensor is kept in: the source's, where
// it holds single values (a block-quantized row cannot be cut, the slicer
// widens those to F32 too).
func matrixOut(d tensor.DType) tensor.DType {
	if d.Quantized() {
		return tensor.F32
	}
	return d
}

func (c *Compensation) store(l int, r model.Role, name string, d tensor.DType, rows, cols int, vals []float32) error {
	raw, err := tensor.Encode(nil, vals, d)
	if err != nil {
		return err
	}
	sw := storedWeight{name: name, dtype: d, rows: rows, cols: cols, size: int64(len(raw))}
	if c.spill != nil {
		if _, err := c.spill.WriteAt(raw, c.off); err != nil {
			return fmt.Errorf("compensation: spilling %s: %w", name, err)
		}
		sw.off = c.off
		c.off += int64(len(raw))
	} else {
		sw.raw = raw
	}
	c.tensors[compKey{l, r}] = sw
	return nil
}

// weight returns the refitted tensor of a role of layer l, if there is one.
func (c *Compensation) weight(l int, r model.Role) (*model.Weight, bool, error) {
	sw, ok := c.tensors[compKey{l, r}]
	if !ok {
		return nil, false, nil
	}
	raw := sw.raw
	if raw == nil {
		raw = make([]byte, sw.size)
		if _, err := c.spill.ReadAt(raw, sw.off); err != nil {
			return nil, false, fmt.Errorf("compensation: reading back %s: %w", sw.name, err)
		}
	}
	return &model.Weight{Name: sw.name, DType: sw.dtype, Rows: sw.rows, Cols: sw.cols, Raw: raw}, true, nil
}

// Bytes is how much the refitted tensors take (in memory, or in the spill).
func (c *Compensation) Bytes() int64 {
	var n int64
	for _, sw := range c.tensors {
		n += sw.size
	}
	return n
}
