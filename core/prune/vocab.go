package prune

import (
	"fmt"
	"strings"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Vocabulary pruning (issue 8): an expert keeps only the tokens its
// languages need. The plan's KeepVocab lists the kept token ids of the
// source; the slicer then yields only those rows of embed_tokens, lm_head
// and its bias, and the output's tokenizer files and GGUF keys are the
// restricted tokenizer's (tokenizer.Restrict). See docs/VOCAB.md for the
// guarantee.

// VocabChoices are the values of the vocabulary option: off (keep the whole
// vocabulary) or target (keep what the target's corpora need).
var VocabChoices = []string{"off", "target"}

// VocabPlan restricts tok to what the documents need (tokenizer.KeepSet:
// the tokens they produce, the tokens made of their characters, and the
// closure that keeps the tokenizer exact) and records it in the plan: the
// kept rows, the new vocabulary size, BOS and EOS. It returns the
// restricted tokenizer, which the output must carry (VocabFiles,
// VocabMeta). Model rows beyond the tokenizer's vocabulary (padding) are
// dropped.
func VocabPlan(p *Plan, tok *tokenizer.Tokenizer, docs []corpus.Doc) (*tokenizer.Restricted, error) {
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	keep, _ := tok.KeepSet(texts)
	r, err := tok.Restrict(keep)
	if err != nil {
		return nil, err
	}
	if err := p.RestrictVocab(r.Map); err != nil {
		return nil, err
	}
	return r, nil
}

// RestrictVocab sets the plan's kept vocabulary rows from an id map.
func (p *Plan) RestrictVocab(m *tokenizer.IDMap) error {
	keep := m.Keep
	if len(keep) == 0 {
		return fmt.Errorf("vocabulary pruning kept no token")
	}
	if last := keep[len(keep)-1]; last >= p.From.Vocab {
		return fmt.Errorf("the tokenizer has token %d beyond the model's %d embedding rows", last, p.From.Vocab)
	}
	p.KeepVocab = keep
	to := *p.To
	to.Vocab = len(keep)
	to.BOS, to.EOS = mapID(m, p.From.BOS), mapID(m, p.From.EOS)
	p.To = &to
	p.vocabMap = m
	return nil
}

func mapID(m *tokenizer.IDMap, id int) int {
	if id < 0 {
		return id
	}
	return m.Map(id)
}

// vocabRole reports whether a global role has one row (or entry) per token.
func vocabRole(r model.Role) bool {
	return r == model.RoleEmbed || r == model.RoleLMHead || r == model.RoleLMHeadB
}

// vocabTensor reads the kept rows of a vocabulary tensor, a run of
// consecutive ids at a time (a bias is read whole and its entries picked).
func (s *Slicer) vocabTensor(r model.Role) (*model.Weight, error) {
	keep := s.Plan.KeepVocab
	name := s.M.TensorName(r, -1)
	if r == model.RoleLMHeadB {
		w, err := s.M.ReadRole(r, -1)
		if err != nil {
			return nil, err
		}
		return w.SelectCols(keep), nil
	}
	info, ok := s.M.Store.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing", name)
	}
	var raw []byte
	for i := 0; i < len(keep); {
		j := i + 1
		for j < len(keep) && keep[j] == keep[j-1]+1 {
			j++
		}
		b, err := s.M.Store.ReadRows(name, keep[i], j-i)
		if err != nil {
			return nil, err
		}
		raw = append(raw, b...)
		i = j
	}
	return &model.Weight{Name: name, DType: info.DType, Rows: len(keep), Cols: info.Cols(), Raw: raw}, nil
}

// VocabFiles rewrites the small files of the source folder for the
// restricted vocabulary (tokenizer.json, tokenizer_config.json,
// generation_config.json, a slow tokenizer's vocab.json, merges.txt and
// added_tokens.json), leaving out those that cannot follow the new ids (a
// SentencePiece tokenizer.model). config.json is written from the plan.
func VocabFiles(files []export.File, r *tokenizer.Restricted) ([]export.File, error) {
	var out []export.File
	for _, f := range files {
		if f.Name == "config.json" {
			out = append(out, f)
			continue
		}
		b, keep, err := r.RewriteFile(f.Name, f.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if keep {
			out = append(out, export.File{Name: f.Name, Data: b})
		}
	}
	return out, nil
}

// VocabMeta is the GGUF tokenizer keys of the restricted vocabulary.
func VocabMeta(r *tokenizer.Restricted, nVocab int) func(*gguf.Writer) error {
	return func(w *gguf.Writer) error { return r.Tokenizer.WriteGGUF(w, nVocab) }
}

// copyOtherTokenizerKeys carries a GGUF source's tokenizer keys that do not
// depend on token ids (chat template, ...) into a vocabulary-pruned output.
func copyOtherTokenizerKeys(g *gguf.File, w *gguf.Writer) error {
	for _, kv := range g.KVs {
		k := kv.Key
		if !strings.HasPrefix(k, "tokenizer.") || strings.HasPrefix(k, "tokenizer.ggml.") {
			continue
		}
		if err := w.Set(k, kv.Value); err != nil {
			return fmt.Errorf("copying %s: %w", k, err)
		}
	}
	return nil
}
