//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/wasm/js/app"
)

// The calls that split a CPU job over several workers: the page runs this
// module in n workers on the same files; each scores a part of the
// calibration text (scoreShard), the first prunes from all the parts
// (prune with options.shards); where the refit's matrices did not come
// with the parts, each refits a part of the layers (refitShard) that the
// first joins (useRefit); and after the expert is verified each measures
// a part of the evaluation (evaluateShard) that the first joins
// (mergeEvaluation). The parts add up to what one worker computes.

// scoreShardCall: (options, index, count, onProgress) -> Uint8Array.
func scoreShardCall(a []js.Value) (any, error) {
	s, o, err := sessionOptions(a)
	if err != nil {
		return nil, err
	}
	ctx, done := st.job()
	defer done()
	b, err := s.ScoreShard(ctx, o, arg(a, 1).Int(), arg(a, 2).Int(), progressFn(arg(a, 3)))
	if err != nil {
		return nil, cancelled(ctx, err)
	}
	return uint8Array(b), nil
}

// readShards reads options.shards, the parts scoreShard returned, when
// the page gives them: the scores and the sum of their Gram matrices. Each
// part is copied out of JavaScript only when its turn comes.
func readShards(s *app.Session, opts js.Value) ([]*prune.Scorer, *prune.Grams, error) {
	list := opts.Get("shards")
	if list.Type() != js.TypeObject {
		return nil, nil, nil
	}
	return s.LoadScores(list.Get("length").Int(), partsOf(list, "scores"))
}

// partsOf reads item i of a JavaScript list of Uint8Array parts (of what)
// into Go, when asked: one part at a time.
func partsOf(list js.Value, what string) func(i int) ([]byte, error) {
	return func(i int) ([]byte, error) {
		u := list.Index(i)
		if u.Type() != js.TypeObject || !u.InstanceOf(js.Global().Get("Uint8Array")) {
			return nil, fmt.Errorf("part %d of the %s is not a Uint8Array", i, what)
		}
		b := make([]byte, u.Get("length").Int())
		js.CopyBytesToGo(b, u)
		return b, nil
	}
}

// evaluateShardCall: (options, {maxDocs, maxTokens}, index, count, onProgress)
// -> {before, after}, the part's perplexities per slice.
func evaluateShardCall(a []js.Value) (any, error) {
	s, o, err := sessionOptions(a)
	if err != nil {
		return nil, err
	}
	var size struct {
		MaxDocs   int `json:"maxDocs"`
		MaxTokens int `json:"maxTokens"`
	}
	fromJS(arg(a, 1), &size)
	ctx, done := st.job()
	defer done()
	m, err := s.EvaluateShard(ctx, o, size.MaxDocs, size.MaxTokens, arg(a, 2).Int(), arg(a, 3).Int(), progressFn(arg(a, 4)))
	if err != nil {
		return nil, cancelled(ctx, err)
	}
	return toJS(m)
}

// mergeEvaluationCall: ([{before, after}, …]) -> the evaluation, as evaluate
// returns it.
func mergeEvaluationCall(a []js.Value) (any, error) {
	s, err := st.session()
	if err != nil {
		return nil, err
	}
	var parts []job.Measured
	if err := fromJS(arg(a, 0), &parts); err != nil {
		return nil, fmt.Errorf("the evaluation's parts: %w", err)
	}
	ev, err := s.MergeEvaluation(parts)
	if err != nil {
		return nil, err
	}
	return toJS(ev)
}

// refitShardCall: (options, plan, index, count, onProgress) -> Uint8Array,
// part index of count of the refit of plan (the main worker's prune
// result's plan: its keep_ffn and keep_groups).
func refitShardCall(a []js.Value) (any, error) {
	s, o, err := sessionOptions(a)
	if err != nil {
		return nil, err
	}
	var kept app.Kept
	if err := fromJS(arg(a, 1), &kept); err != nil {
		return nil, fmt.Errorf("the refit's plan: %w", err)
	}
	ctx, done := st.job()
	defer done()
	b, err := s.RefitShard(ctx, o, kept, arg(a, 2).Int(), arg(a, 3).Int(), progressFn(arg(a, 4)))
	if err != nil {
		return nil, cancelled(ctx, err)
	}
	return uint8Array(b), nil
}

// useRefitCall: ([Uint8Array, …], seconds) -> {refit, seconds}. Each part
// is copied out of JavaScript only when its turn comes.
func useRefitCall(a []js.Value) (any, error) {
	s, err := st.session()
	if err != nil {
		return nil, err
	}
	list := arg(a, 0)
	if list.Type() != js.TypeObject {
		return nil, fmt.Errorf("useRefit: give the parts of the refit")
	}
	seconds := 0.0
	if v := arg(a, 1); v.Type() == js.TypeNumber {
		seconds = v.Float()
	}
	res, err := s.UseRefit(list.Get("length").Int(), partsOf(list, "refit"), seconds)
	if err != nil {
		return nil, err
	}
	return toJS(map[string]any{"refit": res.Refit, "seconds": res.Seconds})
}
