package job

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Scored is a model scored on a job's calibration text: every method's
// statistics, from which experts of any ratio are selected without
// scoring again.
type Scored struct {
	Options Options
	Folder  source.Folder
	Model   *model.Model
	Tok     *tokenizer.Tokenizer
	Scorer  *prune.Scorer
	// Hashes are the source files' SHA-256 (set when a cache is used).
	Hashes map[string]string
	// Cached says the scores came from the cache.
	Cached bool

	seqs      [][]int
	vocabDocs []corpus.Doc
	tokens    int
	seconds   map[string]float64
	dense     map[string]prune.Perplexity // the dense model's evaluation, once measured
	denseKey  [2]int
	// grams are the Gram matrices the scoring pass kept for compensation
	// (scoreWithGrams), nil when scoring did not keep them.
	grams *prune.Grams
}

// Score validates the options against the model, calibrates and scores
// (or, with Options.CacheDir, reads the scores an earlier job saved for the
// same model files, engine and calibration text).
func Score(ctx context.Context, folder source.Folder, m *model.Model, tok *tokenizer.Tokenizer, be model.Backend, o Options, progress prune.Progress) (*Scored, error) {
	o.Defaults()
	if err := o.Validate(m.Config); err != nil {
		return nil, err
	}
	report := func(phase string, done, total int) {
		if progress != nil {
			progress(phase, done, total)
		}
	}
	t0 := time.Now()
	s := &Scored{Options: o, Folder: folder, Model: m, Tok: tok, seconds: map[string]float64{}}
	lap := func(name string) { s.seconds[name] = time.Since(t0).Seconds(); t0 = time.Now() }

	docs, seqs, err := o.calibration(tok, m.Config) // fails before any progress on a bad corpus
	if err != nil {
		return nil, err
	}
	report("prepare", 0, 1)
	s.seqs, s.vocabDocs = seqs, docs
	for _, q := range seqs {
		s.tokens += len(q)
	}
	var key string
	if o.CacheDir != "" {
		if s.Hashes, err = HashSources(folder); err != nil {
			return nil, fmt.Errorf("hashing the model for the score cache: %w", err)
		}
		key = cacheKey(s.Hashes, be, seqs)
		s.Scorer = loadCached(o.CacheDir, key, m.Config)
		s.Cached = s.Scorer != nil
	}
	report("prepare", 1, 1)
	lap("prepare")

	if s.Scorer == nil && len(o.Scores) > 0 {
		if s.Scorer, err = mergeShards(m.Config, o.Scores, len(seqs), s.tokens); err != nil {
			return nil, err
		}
		if o.Grams != nil && o.Compensate {
			if o.Grams.Tokens() != s.tokens {
				return nil, fmt.Errorf("the parts' Gram matrices were summed over %d tokens, but this job calibrates on %d", o.Grams.Tokens(), s.tokens)
			}
			s.grams = o.Grams // the refit only solves
		}
	}
	if s.Scorer == nil {
		report("score", 0, len(prune.Batches(seqs, prune.BatchTokensFor(m.Config)))*m.Config.Layers)
		if s.Scorer, s.grams, err = score(ctx, m, be, seqs, o.Compensate && !o.RefitApart, progress); err != nil {
			return nil, err
		}
		if key != "" {
			if err := saveCached(o.CacheDir, key, s.Scorer); err != nil {
				return nil, fmt.Errorf("saving scores to the cache %s: %w", o.CacheDir, err)
			}
		}
	}
	lap("score")
	return s, nil
}

// gramSpillMax bounds the temporary file of the one-pass route: above it
// (models above about 0.5B parameters) compensation takes its own pass.
const gramSpillMax = 4 << 30

// gramMemMax bounds the matrices kept in memory where there is no
// temporary file (the browser): tiny-multi needs 10 MiB, a 135M-parameter
// model about 320 MiB.
const gramMemMax = 384 << 20

// onePass says compensation on this engine can take the one-pass route:
// the CPU engine, and every layer's Gram matrices fit in gramSpillMax.
func onePass(c *model.Config, be model.Backend) bool {
	return be.Name() == "cpu" && gramBytes(c) <= gramSpillMax
}

// gramBytes is what every layer's upper-triangle Gram matrices (o_proj's
// and down_proj's inputs) take in float64.
func gramBytes(c *model.Config) int64 {
	need := int64(0)
	for l := 0; l < c.Layers; l++ {
		for _, d := range []int64{int64(c.FFNAt(l)), int64(c.HeadsAt(l) * c.HeadDim)} {
			need += 8 * d * (d + 1) / 2
		}
	}
	return need
}

// GramWorkers is how many engines without temporary files (the
// browser's CPU workers) can split a job on this model and still keep
// their scoring passes' Gram matrices in memory, so that the refit only
// solves: each part's matrices are as large as the whole's, and the n
// parts handed to the worker that refits stay within gramMemMax. 0: not
// even one engine can (the refit takes a pass of its own).
func GramWorkers(c *model.Config) int { return int(min(gramMemMax/gramBytes(c), 64)) }

// score runs the scoring pass. When compensation will follow, on the CPU
// engine, and a temporary file can hold every layer's Gram matrices, the
// pass keeps them (prune.ScoreWithGrams: the same scores) so that the
// refit needs no second pass over the calibration text. Where no
// temporary file can be made (the browser) the matrices of a small model
// (gramMemMax) stay in memory. The GPU engine and larger models there
// score as usual and compensate in a pass of their own.
func score(ctx context.Context, m *model.Model, be model.Backend, seqs [][]int, compensate bool, progress prune.Progress) (*prune.Scorer, *prune.Grams, error) {
	if compensate && onePass(m.Config, be) {
		f, err := os.CreateTemp("", "cusprun-grams-*")
		if err == nil {
			// Unlinked at once: the open file is enough, and nothing stays
			// behind however the job ends.
			os.Remove(f.Name())
			sc, gs, err := prune.ScoreWithGrams(ctx, m, be, seqs, f, progress)
			if err != nil {
				f.Close()
			}
			return sc, gs, err
		}
		if GramWorkers(m.Config) >= 1 {
			return prune.ScoreWithGrams(ctx, m, be, seqs, nil, progress) // in memory
		}
	}
	sc, err := prune.Score(ctx, m, be, seqs, progress)
	return sc, nil, err
}

// calibrationDocs reads the calibration text and selects the target's
// documents: the cheap part, which fails before any long work on a bad
// corpus or a target with no documents.
func (o *Options) calibrationDocs() ([]corpus.Doc, error) {
	pool, err := o.calibrationPool()
	if err != nil {
		return nil, err
	}
	return o.Target().Calibration(pool)
}

// calibration reads, caps and tokenizes the calibration documents: the
// target's documents and the sequences scoring runs.
func (o *Options) calibration(tok *tokenizer.Tokenizer, c *model.Config) ([]corpus.Doc, [][]int, error) {
	docs, err := o.calibrationDocs()
	if err != nil {
		return nil, nil, err
	}
	seqs := prune.Tokenize(tok, Cap(docs, o.MaxDocs), min(o.MaxTokens, c.Context()))
	if len(seqs) == 0 {
		return nil, nil, fmt.Errorf("the calibration documents tokenize to nothing")
	}
	return docs, seqs, nil
}

// ScoreShard scores part i of n of the job's calibration sequences
// (prune.Shard): n engines that each score one part, given to Score in
// Options.Scores, make the same scores as one engine scoring all of it.
// The page runs one part per CPU worker. When the job compensates on the
// CPU engine and n parts' Gram matrices fit in memory (GramWorkers), the
// part also keeps its matrices (prune.ScoreWithGrams, in memory); added
// up (prune.NewGrams, Grams.Add) and given to Score in Options.Grams they
// are the matrices one engine's pass keeps, up to the order of additions,
// so the refit only solves.
func ScoreShard(ctx context.Context, m *model.Model, tok *tokenizer.Tokenizer, be model.Backend, o Options, i, n int, progress prune.Progress) (*prune.Scorer, *prune.Grams, error) {
	seqs, err := o.partCalibration(m.Config, tok, i, n)
	if err != nil {
		return nil, nil, err
	}
	part := prune.Shard(seqs, i, n)
	if progress != nil {
		progress("score", 0, len(prune.Batches(part, prune.BatchTokensFor(m.Config)))*m.Config.Layers)
	}
	if !o.Compensate || o.RefitApart || be.Name() != "cpu" || n > GramWorkers(m.Config) {
		sc, err := prune.Score(ctx, m, be, part, progress)
		return sc, nil, err
	}
	if len(part) == 0 {
		return prune.NewScorer(m.Config), prune.NewGrams(m.Config), nil // a part with no documents adds nothing
	}
	return prune.ScoreWithGrams(ctx, m, be, part, nil, progress)
}

// partCalibration is what every engine of a job split n ways starts from:
// the options defaulted and checked against the model, part i of n a part
// there is, and the job's calibration sequences (all of them).
func (o *Options) partCalibration(c *model.Config, tok *tokenizer.Tokenizer, i, n int) ([][]int, error) {
	o.Defaults()
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("part %d of %d: no such part", i, n)
	}
	if err := o.Validate(c); err != nil {
		return nil, err
	}
	_, seqs, err := o.calibration(tok, c)
	return seqs, err
}

// mergeShards merges the parts' scores, refusing parts that do not add up
// to the job's calibration sequences (other options, another model).
func mergeShards(c *model.Config, parts []*prune.Scorer, docs, tokens int) (*prune.Scorer, error) {
	merged := prune.NewScorer(c)
	for i, p := range parts {
		if err := merged.Merge(p); err != nil {
			return nil, fmt.Errorf("part %d of the scores: %w", i, err)
		}
	}
	if merged.Docs() != docs || merged.Tokens() != tokens {
		return nil, fmt.Errorf("the %d parts of the scores hold %d documents and %d tokens, but this job calibrates on %d documents and %d tokens",
			len(parts), merged.Docs(), merged.Tokens(), docs, tokens)
	}
	return merged, nil
}
