// Package app is the browser app's job logic, free of syscall/js so that it
// builds and is tested natively: open a model from a source.Folder, prune it
// (calibrate, score, select) the way `cusprun prune` does, stream the
// expert to any io.Writer, re-open what was written to verify it and measure
// it, and generate short previews. wasm/js wraps it in a Promise-based
// JavaScript API.
package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Options are the job's options (the page sets them from a JavaScript
// object with the same field names).
type Options = job.Options

// UserCorpus is a calibration file the user added.
type UserCorpus = job.Corpus

// pageFormats are the outputs the page offers: a folder cannot be a
// download, so an HF expert comes as one zip.
var pageFormats = []string{"zip", "gguf"}

// Description is what the page shows about an opened model.
type Description struct {
	Family    string   `json:"family"`
	Format    string   `json:"format"`
	DType     string   `json:"dtype"`
	Params    int64    `json:"params"`
	Layers    int      `json:"layers"`
	Hidden    int      `json:"hidden"`
	FFN       int      `json:"ffn"`
	Heads     int      `json:"heads"`
	KVHeads   int      `json:"kvHeads"`
	HeadDim   int      `json:"headDim"`
	Vocab     int      `json:"vocab"`
	MaxPos    int      `json:"maxPos"`
	Files     []string `json:"files"`
	Tokenizer string   `json:"tokenizer"`
	// GramWorkers: a CPU job split over at most this many workers keeps
	// the scoring pass's Gram matrices in memory (job.GramWorkers), so the
	// refit only solves; 0: the refit takes a pass of its own.
	GramWorkers int `json:"gramWorkers"`
}

// Result is the job's summary plus the download's name and the size of
// the evaluation that Evaluate runs when given no sizes (job.EvalSize).
type Result struct {
	*job.Result
	FileName string   `json:"file_name"`
	EvalSize [2]int   `json:"eval_size"` // held-out documents per slice, tokens per document
	CostMACs [3]int64 `json:"cost_macs"` // per token: decoder layers, head; and calibration tokens x layers
}

// Session holds one opened model and the last job's plan.
type Session struct {
	mu     sync.Mutex
	folder source.Folder
	m      *model.Model
	tok    *tokenizer.Tokenizer
	be     model.Backend

	job       *job.Job // the last prune's plan and export settings
	expert    *model.Model
	expertTok *tokenizer.Tokenizer // set by UseExpert (else the job's)
}

// Open reads a model's headers and tokenizer (weights stay lazy).
func Open(folder source.Folder) (*Session, Description, error) {
	m, err := model.Open(folder)
	if err != nil {
		return nil, Description{}, err
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		return nil, Description{}, fmt.Errorf("the model's tokenizer: %w", err)
	}
	c := m.Config
	d := Description{Family: c.Family, Format: m.Format, DType: m.DType.String(), Params: prune.Count(c).Total,
		Layers: c.Layers, Hidden: c.Hidden, FFN: c.FFN, Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		Vocab: c.Vocab, MaxPos: c.MaxPos, Files: folder.Names(), Tokenizer: tok.Name(), GramWorkers: job.GramWorkers(c)}
	return &Session{folder: folder, m: m, tok: tok, be: model.CPU{}}, d, nil
}

// SetBackend chooses the engine for scoring and evaluation.
func (s *Session) SetBackend(be model.Backend) { s.be = be }

// Model is the opened (dense) model.
func (s *Session) Model() *model.Model { return s.m }

// Tokenizer is the model's tokenizer.
func (s *Session) Tokenizer() *tokenizer.Tokenizer { return s.tok }

// Prune calibrates, scores and selects: everything up to the export,
// through the same job.Plan as `cusprun prune`, so the same inputs give
// the same expert.
func (s *Session) Prune(ctx context.Context, o Options, progress prune.Progress) (*Result, error) {
	if o.Format == "" {
		o.Format = "zip"
	}
	o.Defaults()
	if !slices.Contains(pageFormats, o.Format) {
		return nil, fmt.Errorf("unknown format %q (zip or gguf)", o.Format)
	}
	j, err := job.Plan(ctx, s.folder, s.m, s.tok, s.be, o, progress)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.job, s.expert, s.expertTok = j, nil, nil
	s.mu.Unlock()
	c := s.m.Config
	docs, tokens := job.EvalSize(c, j.Result.Calibration["tokens"], j.Options.EvalTokens, 2)
	return &Result{Result: j.Result, FileName: FileName(j.Options), EvalSize: [2]int{docs, tokens},
		CostMACs: [3]int64{job.LayerMACs(c), job.HeadMACs(c), int64(j.Result.Calibration["tokens"]) * job.LayerMACs(c)}}, nil
}

// FileName is the download's name: cusprun-expert-de-law-25.zip. A
// target is named by its canonical value ("Italiano" gives "it"), and
// a run of anything but letters and digits in a name typed on the page
// becomes one "-".
func FileName(o Options) string {
	parts := []string{"cusprun-expert"}
	for _, v := range []string{o.Language, o.Domain, o.Task} {
		if v != "" && v != "any" {
			for _, one := range strings.Split(v, ",") {
				name := strings.Join(strings.FieldsFunc(corpus.Canonical(one), func(r rune) bool {
					return !unicode.IsLetter(r) && !unicode.IsDigit(r)
				}), "-")
				if name != "" {
					parts = append(parts, name)
				}
			}
		}
	}
	parts = append(parts, fmt.Sprintf("%d", int(o.Ratio*100+0.5)))
	ext := ".zip"
	if o.Format == "gguf" {
		ext = ".gguf"
	}
	return strings.Join(parts, "-") + ext
}

// ErrNoPlan is returned by the calls that need a finished prune.
var ErrNoPlan = errors.New("prune the model first")

// Export streams the expert (zip or GGUF, as the last Prune asked) to w.
// Cancelling ctx makes the next write fail; the caller discards what it
// wrote.
func (s *Session) Export(ctx context.Context, w io.Writer) error {
	j := s.lastJob()
	if j == nil {
		return ErrNoPlan
	}
	return j.Write(ctx, w)
}

func (s *Session) lastJob() *job.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.job
}

// OpenExpert opens what Export wrote (read back from wherever the page put
// it) and checks every tensor against the plan; the expert is then used by
// Evaluate and Generate.
func (s *Session) OpenExpert(src source.Source) error {
	j := s.lastJob()
	if j == nil {
		return ErrNoPlan
	}
	out, err := j.OpenWritten(src)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.expert, s.expertTok = out, nil
	s.mu.Unlock()
	return nil
}

// UseExpert opens an expert written and verified earlier (by a job in
// another instance of the engine: the page restarts its worker to cancel)
// for Generate, with the tokenizer it carries.
func (s *Session) UseExpert(src source.Source, gguf bool) error {
	var f source.Folder
	if gguf {
		f = source.Single(src, "expert.gguf")
	} else {
		z, err := source.OpenZip(src)
		if err != nil {
			return err
		}
		f = z
	}
	m, err := model.Open(f)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(f)
	if err != nil {
		return fmt.Errorf("the expert's tokenizer: %w", err)
	}
	s.mu.Lock()
	s.expert, s.expertTok = m, tok
	s.mu.Unlock()
	return nil
}

// Validate checks options the way Prune will, without pruning: the page
// shows its message as the one statement of the limits.
func (s *Session) Validate(o Options) error {
	if o.Format == "" {
		o.Format = "zip"
	}
	o.Defaults()
	return o.Validate(s.m.Config)
}

// Estimate is what the page's progress estimate needs before a job: the
// calibration tokens, scoring's multiply-adds on them, and the refit's
// (job.RefitMACs: forward, Gram sums, solves), estimated for the ratio.
type Estimate struct {
	Tokens    int      `json:"tokens"`
	ScoreMACs int64    `json:"score_macs"`
	RefitMACs [3]int64 `json:"refit_macs"`
}

// Estimate sizes a job with these options before it runs.
func (s *Session) Estimate(o Options) (Estimate, error) {
	if o.Format == "" {
		o.Format = "zip"
	}
	o.Defaults()
	c := s.m.Config
	n, err := job.CalibrationTokens(s.tok, c, o)
	if err != nil {
		return Estimate{}, err
	}
	return Estimate{Tokens: n, ScoreMACs: int64(n) * job.LayerMACs(c), RefitMACs: job.RefitMACs(c, nil, o.Ratio, n, o.RefitPool())}, nil
}

// Eval is perplexity before and after on one held-out slice.
type Eval = job.Eval

// Evaluate measures the dense model and the expert on the built-in held-out
// text, the expert slice and the general mix, exactly as `cusprun prune`
// does with the same options: maxDocs > 0 and maxTokens > 0 override the
// job's EvalDocs and EvalTokens; with neither, the sizes come from
// job.EvalSize, so that evaluation costs no more than scoring did.
func (s *Session) Evaluate(ctx context.Context, maxDocs, maxTokens int, progress prune.Progress) (map[string]Eval, error) {
	s.mu.Lock()
	j, ex := s.job, s.expert
	s.mu.Unlock()
	if ex == nil {
		return nil, ErrNoPlan
	}
	if maxDocs <= 0 && maxTokens <= 0 {
		// No sizes given: as much held-out text as costs no more than the
		// scoring did (job.EvalBudget).
		maxDocs, maxTokens = job.EvalSize(s.m.Config, j.Result.Calibration["tokens"], j.Options.EvalTokens, 2)
	}
	if maxDocs > 0 {
		j.Options.EvalDocs = maxDocs
	}
	if maxTokens > 0 {
		j.Options.EvalTokens = maxTokens
	}
	if err := j.Evaluate(ctx, s.be, ex, progress); err != nil {
		return nil, err
	}
	return j.Result.Eval, nil
}

// Generate continues prompt on the original ("original") or the expert
// ("expert") model, greedily, calling onText with the text so far.
func (s *Session) Generate(ctx context.Context, which, prompt string, n int, onText func(string)) (string, error) {
	m, tok := s.m, s.tok
	if which == "expert" {
		s.mu.Lock()
		m = s.expert
		if s.expertTok != nil {
			tok = s.expertTok
		} else if s.job != nil {
			tok = s.job.TokAfter // a pruned vocabulary has its own ids
		}
		s.mu.Unlock()
		if m == nil {
			return "", ErrNoPlan
		}
	}
	pids := tok.Encode(prompt, tokenizer.EncodeOptions{})
	ids := pids
	if b := tok.BOS(); b >= 0 {
		ids = append([]int{b}, pids...)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("the prompt is empty")
	}
	// The continuation is decoded with the prompt, so the space between
	// them survives (SentencePiece drops a leading one).
	head := tok.DecodeSkipSpecial(pids)
	text := func(out []int) string {
		full := tok.DecodeSkipSpecial(append(append([]int(nil), pids...), out...))
		if strings.HasPrefix(full, head) {
			return full[len(head):]
		}
		return tok.DecodeSkipSpecial(out)
	}
	var out []int
	var cerr error
	_, err := m.Generate(ids, n, 0, 1, tok.EOS(), func(id int) bool {
		if cerr = ctx.Err(); cerr != nil {
			return false
		}
		out = append(out, id)
		if onText != nil {
			onText(text(out))
		}
		return true
	})
	if err == nil {
		err = cerr
	}
	return text(out), err
}

// Logits runs ids through the original or expert model on the session's
// engine and returns the logits at every position ([len(ids)*vocab]).
func (s *Session) Logits(which string, ids []int) ([]float32, error) {
	m := s.m
	if which == "expert" {
		s.mu.Lock()
		m = s.expert
		s.mu.Unlock()
		if m == nil {
			return nil, ErrNoPlan
		}
	}
	for _, id := range ids {
		if id < 0 || id >= m.Config.Vocab {
			return nil, fmt.Errorf("token id %d is outside the vocabulary (%d)", id, m.Config.Vocab)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("give at least one token id")
	}
	return m.AllLogits(s.be, ids)
}

// Tokenize encodes text with the model's tokenizer (no BOS).
func (s *Session) Tokenize(text string) []int {
	return s.tok.Encode(text, tokenizer.EncodeOptions{})
}

// ScoreShard scores part i of n of the job's calibration text (the page
// runs one part in each of n CPU workers) and returns it as bytes for the
// worker that prunes (LoadScores, then Prune with Options.Scores): an
// 8-byte little-endian length, the scores (prune.Scorer.Save), then the
// part's Gram matrices (prune.Grams.Save) when it kept them for the
// refit (job.ScoreShard), nothing otherwise.
func (s *Session) ScoreShard(ctx context.Context, o Options, i, n int, progress prune.Progress) ([]byte, error) {
	if o.Format == "" {
		o.Format = "zip"
	}
	sc, gs, err := job.ScoreShard(ctx, s.m, s.tok, s.be, o, i, n, progress)
	if err != nil {
		return nil, err
	}
	var scores, buf bytes.Buffer
	if err := sc.Save(&scores); err != nil {
		return nil, err
	}
	buf.Write(binary.LittleEndian.AppendUint64(nil, uint64(scores.Len())))
	buf.Write(scores.Bytes())
	if gs != nil {
		if err := gs.Save(&buf); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// LoadScores reads the n parts ScoreShard returned, in order, asking
// part for each in turn so that only one part's bytes need be held at a
// time: the scores for Options.Scores, and the sum of the parts' Gram
// matrices for Options.Grams (nil unless every part kept them).
func (s *Session) LoadScores(n int, part func(i int) ([]byte, error)) ([]*prune.Scorer, *prune.Grams, error) {
	out := make([]*prune.Scorer, n)
	var grams *prune.Grams
	withGrams := 0
	for i := range n {
		b, err := part(i)
		if err != nil {
			return nil, nil, err
		}
		if len(b) < 8 || binary.LittleEndian.Uint64(b) > uint64(len(b)-8) {
			return nil, nil, fmt.Errorf("part %d of the scores: %d bytes, not a part that scoreShard wrote", i, len(b))
		}
		k := 8 + int(binary.LittleEndian.Uint64(b))
		if out[i], err = prune.LoadScorer(bytes.NewReader(b[8:k]), s.m.Config); err != nil {
			return nil, nil, fmt.Errorf("part %d of the scores: %w", i, err)
		}
		if k == len(b) {
			continue // no Gram matrices in this part
		}
		if grams == nil {
			grams = prune.NewGrams(s.m.Config)
		}
		if err := grams.Add(bytes.NewReader(b[k:])); err != nil {
			return nil, nil, fmt.Errorf("part %d of the scores: %w", i, err)
		}
		withGrams++
	}
	if withGrams < n {
		grams = nil // the refit takes its own pass
	}
	return out, grams, nil
}

// Kept is a plan's kept units as the page passes them back (Result.Plan's
// keep_ffn and keep_groups).
type Kept struct {
	FFN    [][]int `json:"keep_ffn"`
	Groups [][]int `json:"keep_groups"`
	Pool   [][]int `json:"pool_ffn"` // the refit's reselection pools (Plan.PoolFFN), if any
}

// RefitShard refits part i of n of the layers of the main worker's plan
// (kept, as its prune returned it) on the job's calibration text (the
// page runs one part in each of n CPU workers when the job's options
// leave the refit apart) and returns it as bytes for UseRefit.
func (s *Session) RefitShard(ctx context.Context, o Options, kept Kept, i, n int, progress prune.Progress) ([]byte, error) {
	if o.Format == "" {
		o.Format = "zip"
	}
	plan, err := prune.PlanFor(s.m.Config, kept.FFN, kept.Groups, kept.Pool)
	if err != nil {
		return nil, err
	}
	comp, err := job.RefitPart(ctx, s.m, s.tok, s.be, o, plan, i, n, progress)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := comp.Save(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UseRefit joins the n parts RefitShard returned (asking part for each in
// turn) into the last prune's refit, so that Export writes the refitted
// weights; seconds is how long the parts took. It returns how the refit
// was made and the job's phase times.
func (s *Session) UseRefit(n int, part func(i int) ([]byte, error), seconds float64) (*Result, error) {
	j := s.lastJob()
	if j == nil {
		return nil, ErrNoPlan
	}
	comp := prune.NewCompensation(j.Plan)
	for i := range n {
		b, err := part(i)
		if err != nil {
			return nil, err
		}
		if err := comp.Add(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("part %d of the refit: %w", i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := j.UseRefit(comp, n, seconds); err != nil {
		return nil, err
	}
	return &Result{Result: j.Result}, nil
}

// EvaluateShard measures part i of n of Evaluate's held-out text on the
// dense model and the expert (opened by OpenExpert or UseExpert): the
// page's n CPU workers measure one part each and MergeEvaluation joins
// them. o are the job's options (its target); maxDocs and maxTokens are
// the evaluation's sizes, as Evaluate takes them.
func (s *Session) EvaluateShard(ctx context.Context, o Options, maxDocs, maxTokens, i, n int, progress prune.Progress) (job.Measured, error) {
	s.mu.Lock()
	ex, tok := s.expert, s.expertTok
	if tok == nil && s.job != nil {
		tok = s.job.TokAfter
	}
	s.mu.Unlock()
	if ex == nil || tok == nil {
		return job.Measured{}, ErrNoPlan
	}
	o.Defaults()
	if maxDocs > 0 {
		o.EvalDocs = maxDocs
	}
	if maxTokens > 0 {
		o.EvalTokens = maxTokens
	}
	slices, _, err := o.HeldOut()
	if err != nil {
		return job.Measured{}, err
	}
	return job.EvaluateShard(ctx, s.be, job.Side{Model: s.m, Tok: s.tok}, job.Side{Model: ex, Tok: tok}, slices, o.EvalTokens, i, n, progress)
}

// MergeEvaluation joins the parts EvaluateShard measured into the last
// job's evaluation, as Evaluate would have recorded it.
func (s *Session) MergeEvaluation(parts []job.Measured) (map[string]Eval, error) {
	j := s.lastJob()
	if j == nil {
		return nil, ErrNoPlan
	}
	ev, err := job.MergeEvaluations(parts)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	j.Result.Eval = ev
	s.mu.Unlock()
	return ev, nil
}
