package prune

import (
	"encoding/gob"
	"fmt"
	"io"

	"github.com/cusprun/cusprun/core/model"
)

// scorerVersion changes whenever what a Scorer keeps, or how it is
// computed, changes: a saved scorer of another version is not read.
const scorerVersion = 1

// savedLayer mirrors layerScores with exported fields for encoding/gob.
type savedLayer struct {
	FFNRank, AttnRank, FFNImp, AttnImp []float64
	FFNSum, FFNSq, OSum, OSq           []float64
	Tokens                             int
	DownCol2, DownColAbs               []float64
	FFNMag, AttnMag, OCol2, OColAbs    []float64
	Group, HD                          int
}

type savedScorer struct {
	Version int
	Layers  []savedLayer
	Docs    int
}

// Save writes everything the scorer gathered, so that a later job on the
// same model and calibration text can select without scoring again.
func (s *Scorer) Save(w io.Writer) error {
	out := savedScorer{Version: scorerVersion, Docs: s.docs}
	if s.docs == 0 && s.Tokens() == 0 {
		// A scorer that saw nothing (an empty shard): no layers.
		return gob.NewEncoder(w).Encode(out)
	}
	for _, ls := range s.layers {
		if ls == nil {
			return fmt.Errorf("the scorer has not seen every layer")
		}
		out.Layers = append(out.Layers, savedLayer{ls.ffnRank, ls.attnRank, ls.ffnImp, ls.attnImp,
			ls.ffnSum, ls.ffnSq, ls.oSum, ls.oSq, ls.tokens, ls.downCol2, ls.downColAbs,
			ls.ffnMag, ls.attnMag, ls.oCol2, ls.oColAbs, ls.group, ls.hd})
	}
	return gob.NewEncoder(w).Encode(out)
}

// LoadScorer reads what Save wrote for a model of config c, checking that
// every layer's widths match it.
func LoadScorer(r io.Reader, c *model.Config) (*Scorer, error) {
	var in savedScorer
	if err := gob.NewDecoder(r).Decode(&in); err != nil {
		return nil, fmt.Errorf("saved scores: %w", err)
	}
	if in.Version != scorerVersion {
		return nil, fmt.Errorf("saved scores: version %d, want %d", in.Version, scorerVersion)
	}
	if len(in.Layers) == 0 && in.Docs == 0 {
		return NewScorer(c), nil // an empty shard's
	}
	if len(in.Layers) != c.Layers {
		return nil, fmt.Errorf("saved scores: %d layers, the model has %d", len(in.Layers), c.Layers)
	}
	s := NewScorer(c)
	s.docs = in.Docs
	for l, v := range in.Layers {
		F, G, nq := c.FFNAt(l), c.KVHeadsAt(l), c.HeadsAt(l)*c.HeadDim
		if len(v.FFNRank) != F || len(v.FFNImp) != F || len(v.FFNSum) != F || len(v.FFNSq) != F ||
			len(v.DownCol2) != F || len(v.DownColAbs) != F || len(v.FFNMag) != F ||
			len(v.AttnRank) != G || len(v.AttnImp) != G || len(v.AttnMag) != G ||
			len(v.OSum) != nq || len(v.OSq) != nq || len(v.OCol2) != nq || len(v.OColAbs) != nq {
			return nil, fmt.Errorf("saved scores: layer %d does not match the model's widths", l)
		}
		s.layers[l] = &layerScores{v.FFNRank, v.AttnRank, v.FFNImp, v.AttnImp, v.FFNSum, v.FFNSq, v.OSum, v.OSq,
			v.Tokens, v.DownCol2, v.DownColAbs, v.FFNMag, v.AttnMag, v.OCol2, v.OColAbs, v.Group, v.HD}
	}
	return s, nil
}
