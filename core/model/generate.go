package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cusprun/cusprun/core/ops"
)

// Generate is GenerateOn the CPU.
func (m *Model) Generate(prompt []int, n int, temperature float64, seed uint64, stop int, onToken func(id int) bool) ([]int, error) {
	return m.GenerateOn(CPU{}, prompt, n, temperature, seed, stop, onToken)
}

// GenerateOn continues prompt by up to n tokens through Run with a KV
// cache: the prompt is run once, then each new token alone against the
// cache. be must be a CacheBackend (the GPU backend is not: its batches
// start at position 0). Temperature 0 is greedy; otherwise tokens are
// sampled with the seed. It stops after stop (when >= 0) or at the model's
// context, and calls onToken for each new token (which may end early by
// returning false).
func (m *Model) GenerateOn(be Backend, prompt []int, n int, temperature float64, seed uint64, stop int, onToken func(id int) bool) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate needs at least one prompt token")
	}
	cb, ok := be.(CacheBackend)
	if !ok {
		return nil, fmt.Errorf("generate: the %s backend keeps no KV cache; generate on the cpu", be.Name())
	}
	c := m.Config
	cache := cb.NewCache(c)
	hd, err := m.LoadHeadNorm()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []int
	next := prompt
	for len(out) < n {
		past := cache.Len()
		if past+len(next) > c.Context() {
			break
		}
		b := Batch{IDs: next, Docs: []ops.Span{{Start: 0, Len: len(next), Past: past}}, Cache: cache}
		logits, err := m.lastLogits(be, b, hd)
		if err != nil {
			return out, err
		}
		id := pick(logits, temperature, rng)
		out = append(out, id)
		if onToken != nil && !onToken(id) || id == stop {
			break
		}
		next = []int{id}
	}
	return out, nil
}

// lastLogits runs a batch of one document and returns the logits after its
// last token.
func (m *Model) lastLogits(be Backend, b Batch, hd *Head) ([]float32, error) {
	s, err := m.Run(be, b, nil, nil)
	if err != nil {
		return nil, err
	}
	defer be.Free(s)
	out := make([]float32, m.Config.Vocab)
	last := b.Docs[0].Len - 1
	err = m.Logits(be, s, hd, []int{last}, func(lo, hi int, y []float32) { copy(out[lo:hi], y) })
	return out, err
}

// pick chooses the next token: the argmax, or a sample at a temperature.
func pick(logits []float32, temperature float64, rng *rand.Rand) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if temperature <= 0 {
		return best
	}
	var sum float64
	p := make([]float64, len(logits))
	for i, v := range logits {
		p[i] = math.Exp((float64(v) - float64(logits[best])) / temperature)
		sum += p[i]
	}
	r := rng.Float64() * sum
	for i, v := range p {
		if r -= v; r <= 0 {
			return i
		}
	}
	return best
}
