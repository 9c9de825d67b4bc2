package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cusprun/cusprun/core/ops"
)

// Generate continues prompt by up to n tokens on the CPU, with a KV cache:
// the prompt is run once, then each new token alone. Temperature 0 is
// greedy; otherwise tokens are sampled with the seed. It stops after stop
// (when >= 0) and calls onToken for each new token (which may end early by
// returning false).
func (m *Model) Generate(prompt []int, n int, temperature float64, seed uint64, stop int, onToken func(id int) bool) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate needs at least one prompt token")
	}
	c := m.Config
	cache := &KVCache{}
	hd, err := m.LoadHeadNorm()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []int
	next := prompt
	for len(out) < n {
		past := cache.Len(c)
		if past+len(next) > c.MaxPos {
			break
		}
		h, err := m.Embed(next)
		if err != nil {
			return out, err
		}
		s, err := CPU{}.StartCached(c, h, []ops.Span{{Start: 0, Len: len(next), Past: past}}, cache)
		if err != nil {
			return out, err
		}
		for l := 0; l < c.Layers; l++ {
			L, err := m.LoadLayer(l)
			if err != nil {
				return out, err
			}
			if err := (CPU{}).Layer(s, L, nil); err != nil {
				return out, err
			}
		}
		logits := make([]float32, c.Vocab)
		if err := m.Logits(CPU{}, s, hd, []int{len(next) - 1}, func(lo, hi int, y []float32) { copy(logits[lo:hi], y) }); err != nil {
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
