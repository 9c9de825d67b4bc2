package prune

import (
	"cmp"
	"encoding/gob"
	"fmt"
	"io"
	"slices"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

// A refit split over engines (CompensateOptions.Parts) comes back as
// bytes: each part's refitted tensors and the layers it covered. Save and
// Add are the writer and reader; NewCompensation is the empty refit of a
// plan that the parts are added into, and Complete says every layer came.

const refitVersion = 2

type savedRefit struct {
	Version int
	Layers  []int // the layers the part refitted
	Tokens  int   // the calibration tokens it was fitted on
	Tensors []savedTensor
	// Kept are the FFN neurons the part's refit chose to keep, in the
	// layers it reselected (Plan.PoolFFN).
	Kept []savedKeep
}

type savedKeep struct {
	Layer int
	FFN   []int
}

type savedTensor struct {
	Layer      int
	Role       model.Role
	Name       string
	DType      tensor.DType
	Rows, Cols int
	Raw        []byte
}

// NewCompensation is a refit of plan that covers no layer yet, its tensors
// in memory: the sum that parts are added into.
func NewCompensation(plan *Plan) *Compensation {
	return &Compensation{plan: plan, tensors: map[compKey]storedWeight{}, layers: make([]bool, len(plan.KeepFFN)), tokens: -1}
}

// Save writes the refitted tensors and the layers they cover.
func (c *Compensation) Save(w io.Writer) error {
	out := savedRefit{Version: refitVersion, Tokens: c.tokens}
	for l, mine := range c.layers {
		if mine {
			out.Layers = append(out.Layers, l)
		}
	}
	keys := make([]compKey, 0, len(c.tensors))
	for k := range c.tensors {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b compKey) int { return cmp.Or(cmp.Compare(a.layer, b.layer), cmp.Compare(a.role, b.role)) })
	for _, k := range keys {
		wt, _, err := c.weight(k.layer, k.role)
		if err != nil {
			return err
		}
		out.Tensors = append(out.Tensors, savedTensor{k.layer, k.role, wt.Name, wt.DType, wt.Rows, wt.Cols, wt.Raw})
	}
	for _, l := range c.reselected {
		out.Kept = append(out.Kept, savedKeep{l, c.plan.KeepFFN[l]})
	}
	return gob.NewEncoder(w).Encode(out)
}

// Add reads a part Save wrote and adds its layers. It refuses a part of
// another calibration text (token count), a layer another part already
// covered or that the plan does not have, and tensors whose role, shape or
// size do not fit the plan's kept units.
func (c *Compensation) Add(r io.Reader) error {
	var in savedRefit
	if err := gob.NewDecoder(r).Decode(&in); err != nil {
		return fmt.Errorf("the refit's part: %w", err)
	}
	if in.Version != refitVersion {
		return fmt.Errorf("the refit's part: version %d, want %d", in.Version, refitVersion)
	}
	if c.tokens >= 0 && in.Tokens != c.tokens {
		return fmt.Errorf("the refit's part was fitted on %d calibration tokens, another on %d", in.Tokens, c.tokens)
	}
	cfg := c.plan.From
	covered := map[int]bool{}
	for _, l := range in.Layers {
		if l < 0 || l >= len(c.layers) {
			return fmt.Errorf("the refit's part covers layer %d; the plan has %d", l, len(c.layers))
		}
		if c.layers[l] || covered[l] {
			return fmt.Errorf("the refit's part covers layer %d, which another part covered", l)
		}
		covered[l] = true
	}
	chosen := map[int][]int{}
	for _, k := range in.Kept {
		l := k.Layer
		if !covered[l] {
			return fmt.Errorf("the refit's part chose the kept neurons of layer %d, a layer it does not cover", l)
		}
		if _, dup := chosen[l]; dup || len(k.FFN) != len(c.plan.KeepFFN[l]) {
			return fmt.Errorf("the refit's part keeps %d FFN neurons of layer %d; the plan keeps %d", len(k.FFN), l, len(c.plan.KeepFFN[l]))
		}
		pool := c.plan.pool(l)
		if pool == nil {
			return fmt.Errorf("the refit's part chose the kept neurons of layer %d, which the plan does not let it choose", l)
		}
		F := cfg.FFNAt(l)
		for i, n := range k.FFN {
			if n < 0 || n >= F || (i > 0 && n <= k.FFN[i-1]) {
				return fmt.Errorf("the refit's part's kept neurons of layer %d are not ascending indices below %d", l, F)
			}
		}
		if err := checkPool(pool, k.FFN, F); err != nil {
			return fmt.Errorf("the refit's part, layer %d: %w", l, err)
		}
		chosen[l] = k.FFN
	}
	for l := range covered {
		if _, ok := chosen[l]; !ok && c.plan.pool(l) != nil {
			return fmt.Errorf("the refit's part did not choose the kept neurons of layer %d, which the plan lets the refit choose (a part of a plan without its pools?)", l)
		}
	}
	for _, t := range in.Tensors {
		if !covered[t.Layer] {
			return fmt.Errorf("the refit's part has %s of layer %d, a layer it does not cover", t.Name, t.Layer)
		}
		var rows, cols int
		switch t.Role {
		case model.RoleO:
			rows, cols = cfg.Hidden, len(keptHeads(c.plan.KeepGroups[t.Layer], cfg.Group()))*cfg.HeadDim
		case model.RoleDown:
			rows, cols = cfg.Hidden, len(c.plan.KeepFFN[t.Layer])
		case model.RoleOB, model.RoleDownB:
			rows, cols = 1, cfg.Hidden
		default:
			return fmt.Errorf("the refit's part has %s of layer %d, which a refit does not write", t.Name, t.Layer)
		}
		if t.Rows != rows || t.Cols != cols {
			return fmt.Errorf("the refit's part has %s of layer %d as [%d, %d]; the plan keeps [%d, %d]", t.Name, t.Layer, t.Rows, t.Cols, rows, cols)
		}
		if t.DType != tensor.F32 && t.DType != tensor.F16 && t.DType != tensor.BF16 {
			return fmt.Errorf("the refit's part has %s of layer %d in %v", t.Name, t.Layer, t.DType)
		}
		if int64(len(t.Raw)) != int64(rows)*t.DType.ByteSize(int64(cols)) {
			return fmt.Errorf("the refit's part has %d bytes for %s of layer %d, want %d", len(t.Raw), t.Name, t.Layer, int64(rows)*t.DType.ByteSize(int64(cols)))
		}
		if _, dup := c.tensors[compKey{t.Layer, t.Role}]; dup {
			return fmt.Errorf("the refit's part has %s of layer %d twice", t.Name, t.Layer)
		}
		c.tensors[compKey{t.Layer, t.Role}] = storedWeight{name: t.Name, dtype: t.DType, rows: t.Rows, cols: t.Cols, raw: t.Raw, size: int64(len(t.Raw))}
	}
	for l := range covered {
		c.layers[l] = true
	}
	if c.chosen == nil {
		c.chosen = map[int][]int{}
	}
	for l, keep := range chosen {
		c.chosen[l] = keep
	}
	c.tokens = in.Tokens
	return nil
}

// For says c is a refit of plan (the slicer takes it only for that plan).
func (c *Compensation) For(plan *Plan) bool { return c.plan == plan }

// Complete says every layer of the plan is covered (by one of the parts
// added), and then writes the kept neurons the parts chose into the plan
// (not before: a refit that lacks a part leaves the plan as it was).
func (c *Compensation) Complete() error {
	for l, ok := range c.layers {
		if !ok {
			return fmt.Errorf("no part of the refit covers layer %d", l)
		}
	}
	for l, keep := range c.chosen {
		c.plan.KeepFFN[l] = keep
		c.reselected = append(c.reselected, l)
	}
	c.chosen = nil
	return nil
}
