package job

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Job is a planned prune: the model scored, the units chosen, and
// everything the export needs.
type Job struct {
	Options  Options
	Folder   source.Folder
	Model    *model.Model
	Tok      *tokenizer.Tokenizer // the source's tokenizer
	TokAfter *tokenizer.Tokenizer // the expert's (restricted with Vocab "target")
	Scorer   *prune.Scorer
	Plan     *prune.Plan
	Slicer   *prune.Slicer
	Output   prune.Output // Path unset: Stage or Write decide where it goes
	Result   *Result      // the summary so far (no Out, Eval or export timings)

	scored *Scored
}

// Plan calibrates, scores and selects: everything but writing the expert.
// It validates the options before any scoring.
func Plan(ctx context.Context, folder source.Folder, m *model.Model, tok *tokenizer.Tokenizer, be model.Backend, o Options, progress prune.Progress) (*Job, error) {
	s, err := Score(ctx, folder, m, tok, be, o, progress)
	if err != nil {
		return nil, err
	}
	j, err := s.Select(s.Options.Ratio, progress)
	if err != nil {
		return nil, err
	}
	return j, j.compensateIfAsked(ctx, be, progress)
}

// Select chooses the units to remove for one ratio (the options' method,
// placement and format) and prepares the export.
func (s *Scored) Select(ratio float64, progress prune.Progress) (*Job, error) {
	t0 := time.Now()
	o, m, tok := s.Options, s.Model, s.Tok
	o.Ratio = ratio
	if err := o.Validate(m.Config); err != nil {
		return nil, err
	}
	if progress != nil {
		progress("select", 0, 1)
	}
	scores := s.Scorer.Scores(o.Method, o.Seed)
	var alignNote string
	plan, err := prune.Select(m.Config, scores, o.Method, o.Ratio, o.Placement, o.ffnOnly(m.Config))
	if err != nil {
		return nil, err
	}
	if o.Format == "gguf" && prune.QuantizedOutput(o.Quant, m.DType) {
		// Quantized rows must be whole blocks: an FFN width that is not a
		// multiple of 32 would leave ffn_down in F16.
		asked := plan
		plan = prune.AlignFFN(plan, scores, prune.QuantBlockRows)
		alignNote = alignedNote(asked, plan)
	}
	if o.Compensate && !removesUnits(plan) {
		o.Compensate = false // nothing removed (ratio 0): nothing to refit
	}
	if o.Compensate {
		plan.SetPool(scores, o.RefitPool()) // the refit chooses among the lowest ranked
	}
	var vr *tokenizer.Restricted
	if o.Vocab == "target" {
		if vr, err = prune.VocabPlan(plan, tok, s.vocabDocs); err != nil {
			return nil, fmt.Errorf("vocabulary pruning: %w", err)
		}
	}
	sl := &prune.Slicer{M: m, Plan: plan, Source: s.Folder}
	if o.Method == "flap" {
		sc := s.Scorer
		sl.Compensate = func(l int) ([]float64, []float64) { return sc.FFNMean(l), sc.OMean(l) }
	}
	out := prune.Output{Format: o.Format, Quant: o.Quant, Name: expertName(o, ratio)}
	for _, f := range prune.SmallFiles(s.Folder) {
		if f.Name != "config.json" && !isReadme(f.Name) {
			out.Files = append(out.Files, f)
		}
	}
	if o.Format != "gguf" {
		// a GGUF source's vocabulary as tokenizer.json (before VocabFiles rewrites it)
		tf, err := prune.HFTokenizerFiles(tok, out.Files)
		if err != nil {
			return nil, err
		}
		out.Files = append(out.Files, tf...)
	}
	if o.Format == "gguf" && m.GGUF() == nil {
		// Qwen pads its embedding beyond the tokenizer: the GGUF token list
		// is padded to the rows, as llama.cpp's converter does.
		out.VocabMeta = func(w *gguf.Writer) error { return tok.WriteGGUF(w, plan.To.Vocab) }
	}
	tokAfter := tok
	if vr != nil {
		if out.Files, err = prune.VocabFiles(out.Files, vr); err != nil {
			return nil, err
		}
		out.VocabMeta = prune.VocabMeta(vr, plan.To.Vocab)
		tokAfter = vr.Tokenizer
	}
	if progress != nil {
		progress("select", 1, 1)
	}
	res := summary(m.Config, plan, o)
	res.Seconds = map[string]float64{}
	res.BytesBefore = folderSize(s.Folder)
	for k, v := range s.seconds {
		res.Seconds[k] = v
	}
	res.Seconds["select"] = time.Since(t0).Seconds()
	res.Calibration = map[string]int{"docs": len(s.seqs), "tokens": s.tokens}
	res.ScoresCached = s.Cached
	if alignNote != "" {
		res.Notes = append(res.Notes, fmt.Sprintf("%s (%.3f of the parameters removed, %.3g asked)", alignNote, res.RatioActual, ratio))
	}
	if o.Format != "gguf" && m.DType.Quantized() && (o.Quant == "keep" || o.Quant == "") {
		res.Notes = append(res.Notes, fmt.Sprintf("the source is quantized (%v) and a Hugging Face folder holds no quantized types, so the expert is written in bf16 and can be larger than the source; --format gguf keeps the source's types", m.DType))
	}
	if vr != nil {
		res.Vocab = map[string]int{"before": m.Config.Vocab, "after": plan.To.Vocab, "tokenizer_before": tok.VocabSize()}
	}
	out.Files = append(out.Files, card(res, o))
	return &Job{Options: o, Folder: s.Folder, Model: m, Tok: tok, TokAfter: tokAfter, Scorer: s.Scorer, Plan: plan,
		Slicer: sl, Output: out, Result: res, scored: s}, nil
}

// alignedNote says how rounding the FFN widths to whole quant blocks
// changed them, "" if it did not.
func alignedNote(asked, aligned *prune.Plan) string {
	var was, now []int
	for l := range asked.KeepFFN {
		was, now = append(was, len(asked.KeepFFN[l])), append(now, len(aligned.KeepFFN[l]))
	}
	if slices.Equal(was, now) {
		return ""
	}
	widths := fmt.Sprintf("%v, not %v", now, was)
	if slices.Min(now) == slices.Max(now) && slices.Min(was) == slices.Max(was) {
		widths = fmt.Sprintf("%d per layer, not %d", now[0], was[0])
	}
	return fmt.Sprintf("a quantized GGUF keeps ffn_down in whole %d-value blocks, so the FFN widths are %s", prune.QuantBlockRows, widths)
}

// summary describes a plan: parameter counts and per-layer widths.
func summary(c *model.Config, plan *prune.Plan, o Options) *Result {
	t := o.Target()
	res := &Result{Format: o.Format, Quant: o.Quant, Family: c.Family, Method: o.Method, Placement: o.Placement,
		Ratio: o.Ratio, Plan: plan,
		Target: map[string]string{"language": t.Get("language"), "domain": t.Get("domain"), "task": t.Get("task")}}
	before, after := prune.Count(c), prune.Count(plan.To)
	res.ParamsBefore, res.ParamsAfter = before.Total, after.Total
	res.Decoder = [2]int64{before.Decoder, after.Decoder}
	res.RatioActual = 1 - float64(after.Decoder)/float64(before.Decoder)
	res.Pruned.FFN, res.Pruned.AttnGroups = plan.Pruned()
	for l := 0; l < plan.To.Layers; l++ {
		res.Kept.FFN = append(res.Kept.FFN, plan.To.FFNAt(l))
		res.Kept.Heads = append(res.Kept.Heads, plan.To.HeadsAt(l))
		res.Kept.KV = append(res.Kept.KV, plan.To.KVHeadsAt(l))
		res.From.FFN = append(res.From.FFN, c.FFNAt(l))
		res.From.Heads = append(res.From.Heads, c.HeadsAt(l))
		res.From.KV = append(res.From.KV, c.KVHeadsAt(l))
		res.PerLayerRatio = append(res.PerLayerRatio, 1-float64(after.PerLayer[l])/float64(before.PerLayer[l]))
	}
	return res
}
