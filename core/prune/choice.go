package prune

import (
	"context"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Question is one multiple-choice item: {question, choices, answer}, the
// answer the index of the right choice.
type Question struct {
	Question string   `json:"question"`
	Choices  []string `json:"choices"`
	Answer   int      `json:"answer"`
}

// Accuracy is multiple-choice accuracy by log-likelihood: each choice is
// scored as the summed log-probability of its tokens after BOS + question
// (Acc), and per token (AccNorm, which does not favour short answers).
type Accuracy struct {
	Acc       float64 `json:"acc"`
	AccNorm   float64 `json:"acc_norm"`
	Questions int     `json:"questions"`
}

// MultipleChoice scores every question with the model.
func MultipleChoice(ctx context.Context, m *model.Model, be model.Backend, tok *tokenizer.Tokenizer, qs []Question) (Accuracy, error) {
	var right, rightNorm int
	for _, q := range qs {
		if err := ctx.Err(); err != nil {
			return Accuracy{}, err
		}
		prefix := tok.Encode(q.Question, tokenizer.EncodeOptions{})
		if b := tok.BOS(); b >= 0 {
			prefix = append([]int{b}, prefix...)
		}
		var seqs [][]int
		var from []int
		for _, c := range q.Choices {
			// The choice is encoded with the question so merges across the
			// boundary match how the model would read the text.
			full := tok.Encode(q.Question+" "+c, tokenizer.EncodeOptions{})
			if b := tok.BOS(); b >= 0 {
				full = append([]int{b}, full...)
			}
			start := min(len(prefix), len(full)-1)
			seqs = append(seqs, full)
			from = append(from, start)
		}
		sum, count, err := m.NLLFrom(be, seqs, from, nil)
		if err != nil {
			return Accuracy{}, err
		}
		best, bestNorm := 0, 0
		for i := range seqs {
			if sum[i] < sum[best] {
				best = i
			}
			if sum[i]/float64(max(count[i], 1)) < sum[bestNorm]/float64(max(count[bestNorm], 1)) {
				bestNorm = i
			}
		}
		if best == q.Answer {
			right++
		}
		if bestNorm == q.Answer {
			rightNorm++
		}
	}
	n := float64(len(qs))
	return Accuracy{Acc: float64(right) / n, AccNorm: float64(rightNorm) / n, Questions: len(qs)}, nil
}
