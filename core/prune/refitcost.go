package prune

import "github.com/cusprun/cusprun/core/model"

// The refit's cost in multiply-adds, layer by layer: what its progress is
// counted in (so that the solves at the end of each layer move the bar by
// what they cost, not by nothing) and what the page's estimate is made of
// before the refit starts.

// LayerRefitMACs is layer l's share of the refit of a model of config c
// that keeps kf FFN neurons and kq query dimensions (kept heads × head
// dim) of that layer: per calibration token, the forward pass through the
// layer and the Gram sums of the kept rows (K·d − K²/2 each, gram.go);
// once, the solves (a K³/6 factorisation, two triangular solves of K²/2
// per right-hand side, and the right-hand sides' K·R per output row, for
// o_proj and down_proj). A projection that loses nothing is not refitted.
// pool, when above the removed count, is the layer's reselection pool
// (Plan.PoolFFN): the FFN's Gram matrix is then summed whole and its
// solves are the reselection's (ReselectMACs).
func LayerRefitMACs(c *model.Config, l, kf, kq, pool int) (forward, grams, solves int64) {
	H := int64(c.Hidden)
	nq, nkv, F := int64(c.HeadsAt(l)*c.HeadDim), int64(c.KVHeadsAt(l)*c.HeadDim), int64(c.FFNAt(l))
	mats := int64(2)
	if c.Gated {
		mats = 3
	}
	forward = H*(nq+2*nkv) + nq*H + mats*H*F
	for _, p := range [][2]int64{{int64(kq), nq}, {int64(kf), F}} {
		K, d := p[0], p[1]
		if K >= d {
			continue
		}
		if d == F && int64(pool) > d-K {
			grams += d * (d + 1) / 2
			solves += ReselectMACs(H, F, K, int64(pool)) + K*K*H/2 + K*(d-K)*H
			continue
		}
		grams += K*d - K*K/2
		solves += K*K*K/6 + K*K*H + K*(d-K)*H
	}
	return forward, grams, solves
}

// ReselectMACs is the reselection's work on a layer of F neurons and H
// outputs that keeps K, choosing among pool candidates (reselect.go), with
// n = F − pool outside the pool, c = pool, R = F − K removed and q = K − n
// candidates kept: the factorisation of the whole G + λI with the pool
// last (F³/6; it leaves the Schur complement's factor), the inverse of the
// Schur complement from it (c³), the candidates' Gram matrix of down_proj
// columns for the greedy (c²H), the greedy's deferred updates of both its
// matrices as the candidates still there shrink from c to c − R (3m² per
// removal, as products of panels; the few corrections between them are
// not counted), the kept
// candidates' block of the Schur complement and its factor (q²c/2 +
// q³/6), and the refit's forward-solved right-hand side for the removed
// (Rqc/2 + q²R/2); the refit's own factorisation and forward solve are not
// needed then.
func ReselectMACs(H, F, K, pool int64) int64 {
	c, R := pool, F-K
	macs := F*F*F/6 + c*c*c + c*c*H
	for m := c; m > c-R; m-- {
		macs += 3 * m * m
	}
	q := K - (F - pool)
	return macs + q*q*c/2 + q*q*q/6 + R*q*c/2 + q*q*R/2
}

// refitWork is the refit pass's progress in multiply-adds: per layer, the
// forward and Gram work per token of the layers this part refits (the
// forward only for the others), and the solves.
type refitWork struct {
	perToken, solve []int64
	done, total     int64
}

func newRefitWork(c *model.Config, plan *Plan, tokens int, opt CompensateOptions) *refitWork {
	w := &refitWork{perToken: make([]int64, c.Layers), solve: make([]int64, c.Layers)}
	for l := 0; l < c.Layers; l++ {
		kq := len(keptHeads(plan.KeepGroups[l], c.Group())) * c.HeadDim
		f, g, s := LayerRefitMACs(c, l, len(plan.KeepFFN[l]), kq, len(plan.pool(l)))
		w.perToken[l] = f
		if opt.mine(l) {
			w.perToken[l] += g
			w.solve[l] = s
		}
		w.total += int64(tokens)*w.perToken[l] + w.solve[l]
	}
	return w
}

// batch counts a batch of n tokens through layer l, solved one layer's
// solves; report hands the count to progress.
func (w *refitWork) batch(l, n int) { w.done += int64(n) * w.perToken[l] }
func (w *refitWork) solved(l int)   { w.done += w.solve[l] }
func (w *refitWork) report(p Progress) {
	if p != nil {
		p("compensate", int(w.done), int(w.total))
	}
}
