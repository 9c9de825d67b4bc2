package job

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
)

// Options is everything a prune job needs. The zero value of every field
// but Ratio is a usable default (see Defaults).
type Options struct {
	Language string `json:"language"` // ISO 639-1, several comma-separated, "" or "any"
	Domain   string `json:"domain"`
	Task     string `json:"task"`

	Corpora    []string `json:"-"` // calibration files on disk
	CorpusData []Corpus `json:"-"` // calibration files in memory (the browser)
	NoBuiltin  bool     `json:"noBuiltin"`

	Ratio     float64 `json:"ratio"`     // fraction of the decoder's attention+FFN parameters removed
	Method    string  `json:"method"`    // prune.Methods
	Placement string  `json:"placement"` // uniform or adaptive
	Format    string  `json:"format"`    // hf, zip or gguf
	Quant     string  `json:"quant"`     // tensor types: prune.Quants (keep: the source's)
	Vocab     string  `json:"vocab"`     // off or target (docs/VOCAB.md)
	Seed      uint64  `json:"seed"`      // of the random baseline
	// Compensate refits o_proj and down_proj of the kept units by least
	// squares on the calibration text (prune.Compensate; off gives the
	// uncompensated expert byte for byte).
	Compensate bool `json:"compensate"`
	// Reselect, with Compensate, lets the refit rechoose each layer's
	// removed FFN neurons among the method's Reselect × that many lowest
	// ranked: those whose loss the refit of the others repairs best
	// (prune.Plan.SetPool). 0 takes prune.DefaultPool; 1 keeps the
	// method's choice (the refit only refits).
	Reselect float64 `json:"reselect"`

	MaxTokens int `json:"maxTokens"` // cut each document to this many tokens (BOS included)
	MaxDocs   int `json:"maxDocs"`   // calibration documents at most (0: all)

	NoEval     bool `json:"noEval"`     // Run skips the before/after evaluation
	EvalDocs   int  `json:"evalDocs"`   // held-out documents per slice at most (0: all)
	EvalTokens int  `json:"evalTokens"` // held-out document length (0: MaxTokens)
	// EvalData, when not nil, are the expert's own held-out documents: the
	// expert slice measures them (capped to EvalDocs) instead of the
	// built-in held-out text of the target; the general mix stays built in.
	EvalData []corpus.Doc `json:"-"`

	// SourceName names the source model in the expert's model card (a
	// folder or file name; the card says "a llama model" without it).
	SourceName string `json:"sourceName"`

	// CacheDir, when set, keeps scores between jobs: a job on the same
	// model files, engine and calibration text selects from them without
	// scoring again (another ratio or method costs seconds).
	CacheDir string `json:"-"`

	// Scores, when set, are the parts of the calibration text scored by
	// separate engines (ScoreShard i of len(Scores), in order: the page's
	// CPU workers): Score merges them instead of scoring, after checking
	// that together they cover exactly this job's calibration sequences.
	Scores []*prune.Scorer `json:"-"`
	// Grams, when set with Scores, are the sum of the parts' Gram matrices
	// (ScoreShard's, when it keeps them): the refit then needs no pass of
	// its own. Nil when a part kept none.
	Grams *prune.Grams `json:"-"`
	// RefitApart leaves the refit out of Plan (Result.Refit says "apart"):
	// the page's CPU workers then refit a part of the layers each
	// (RefitPart) and the parts are joined into the job (UseRefit); the
	// scoring pass keeps no Gram matrices then. The page asks for it where
	// the matrices would not fit in memory (GramWorkers).
	RefitApart bool `json:"refitApart"`
}

// Formats are the outputs a job writes.
var Formats = []string{"hf", "zip", "gguf"}

// Placements are the ways pruned units are spread over the layers.
var Placements = []string{"uniform", "adaptive"}

// DefaultMaxTokens is the calibration and evaluation document length.
const DefaultMaxTokens = 512

// MinTokens is the shortest document length allowed: the BOS token and one
// more, as a document cut to its BOS token alone predicts nothing.
const MinTokens = 2

// Defaults fills every unset field with its default, in place.
func (o *Options) Defaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.Method, "cusprun")
	def(&o.Placement, "uniform")
	def(&o.Format, "hf")
	def(&o.Quant, "keep")
	def(&o.Vocab, "off")
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.EvalTokens == 0 {
		o.EvalTokens = o.MaxTokens
	}
	for _, p := range []*string{&o.Language, &o.Domain, &o.Task} {
		*p = canonicalValues(*p)
	}
}

// Target is the expert's language, domain and task.
func (o *Options) Target() corpus.Target {
	return corpus.Target{Language: o.Language, Domain: o.Domain, Task: o.Task}
}

// MaxRatio is the largest ratio a job accepts: every layer keeps at least
// one attention group and some FFN neurons.
const MaxRatio = 0.9

// Validate checks the options (after Defaults) against the model they will
// prune, so that a bad choice fails before any scoring. c may be nil to
// check only what does not depend on the model.
func (o *Options) Validate(c *model.Config) error {
	if o.Ratio < 0 || o.Ratio > MaxRatio || o.Ratio != o.Ratio {
		return fmt.Errorf("ratio %v is out of range: give a fraction from 0 to %v (0.2 removes a fifth of the decoder's parameters)", o.Ratio, MaxRatio)
	}
	if !oneOf(o.Method, prune.Methods) {
		return fmt.Errorf("unknown method %q (%s)", o.Method, strings.Join(prune.Methods, ", "))
	}
	if !oneOf(o.Format, Formats) {
		return fmt.Errorf("unknown format %q (%s)", o.Format, strings.Join(Formats, ", "))
	}
	if err := prune.CheckQuant(o.Quant, o.Format); err != nil {
		return err
	}
	if !oneOf(o.Placement, Placements) {
		return fmt.Errorf("unknown placement %q (%s)", o.Placement, strings.Join(Placements, ", "))
	}
	if !oneOf(o.Vocab, prune.VocabChoices) {
		return fmt.Errorf("unknown vocab choice %q (%s)", o.Vocab, strings.Join(prune.VocabChoices, ", "))
	}
	if o.Reselect != 0 && !(o.Reselect >= 1 && o.Reselect <= MaxReselect) {
		return fmt.Errorf("reselect %v is out of range: give 1 (the method's choice stays) to %v, or 0 for the default %v", o.Reselect, MaxReselect, prune.DefaultPool)
	}
	if o.MaxDocs < 0 || o.EvalDocs < 0 {
		return fmt.Errorf("document counts cannot be negative")
	}
	// Shorter, scoring would stop later with "tokenize to nothing"; a
	// negative length used to become the default without a word.
	for _, n := range []struct {
		name string
		v    int
	}{{"max tokens", o.MaxTokens}, {"eval tokens", o.EvalTokens}} {
		if n.v < MinTokens {
			return fmt.Errorf("%s %d is too few: a document needs at least %d tokens (the BOS token and one more); 0 gives the default %d", n.name, n.v, MinTokens, DefaultMaxTokens)
		}
	}
	if c == nil {
		return nil
	}
	caps := export.CapabilitiesOf(c.Family, o.Format)
	if o.Placement == "adaptive" && !caps.PerLayerWidths {
		return fmt.Errorf("adaptive placement gives per-layer widths, which %s", caps.WhyNoPerLayerWidths)
	}
	if o.Placement == "uniform" {
		return prune.CheckUniform(c, o.Ratio, o.ffnOnly(c))
	}
	return nil
}

// ffnOnly says the output keeps every attention group (prune.Select's
// ffnOnly): the job, its preview and the check above choose alike.
func (o *Options) ffnOnly(c *model.Config) bool {
	return !export.CapabilitiesOf(c.Family, o.Format).PruneHeads
}

// MaxReselect is the largest reselection pool, as a multiple of the
// neurons a layer loses: the pool's part of the refit grows with its cube.
const MaxReselect = 4

// RefitPool is the reselection pool the options ask for (1: none, as
// without the refit), as a multiple of the neurons a layer loses.
func (o *Options) RefitPool() float64 {
	switch {
	case !o.Compensate:
		return 1
	case o.Reselect == 0:
		return prune.DefaultPool
	}
	return o.Reselect
}

func oneOf(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Corpus is a calibration file held in memory: JSONL when its name ends in
// .jsonl or .json, plain text otherwise.
type Corpus struct {
	Name string
	Data []byte
}

// Read parses it, as corpus.Read does a file.
func (c Corpus) Read() ([]corpus.Doc, error) {
	return corpus.Read(bytes.NewReader(c.Data), c.Name)
}

// calibrationPool reads every calibration document the options name.
func (o *Options) calibrationPool() ([]corpus.Doc, error) {
	var pool []corpus.Doc
	if !o.NoBuiltin {
		b, err := corpus.Builtin("calib")
		if err != nil {
			return nil, err
		}
		pool = append(pool, b...)
	}
	for _, c := range o.CorpusData {
		d, err := c.Read()
		if err != nil {
			return nil, err
		}
		pool = append(pool, d...)
	}
	for _, p := range o.Corpora {
		d, err := corpus.ReadFile(p)
		if err != nil {
			return nil, err
		}
		pool = append(pool, d...)
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("no calibration documents: keep the built-in corpora or add your own")
	}
	return pool, nil
}

// canonicalValues writes a target dimension's comma-separated values by
// their built-in names ("Legal" -> "law"); "any" leaves it open.
func canonicalValues(v string) string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = corpus.Canonical(x); x != "" && x != "any" {
			out = append(out, x)
		}
	}
	return strings.Join(out, ",")
}
