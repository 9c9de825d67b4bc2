package model

import "github.com/cusprun/cusprun/core/ops"

// Backend runs the heavy part of the forward pass: one decoder layer over
// many documents at a time. The CPU backend is in this package; gpu/ holds
// the WebGPU/Vulkan one. Hidden states live wherever the backend keeps them
// (device memory for the GPU) between calls; only statistics and the final
// normed rows come back.
type Backend interface {
	Name() string
	// Start takes the embedded tokens of a batch ([tokens, hidden]) and the
	// documents' spans (their positions start at Span.Past).
	Start(c *Config, h []float32, docs []ops.Span) (State, error)
	// Layer runs decoder layer L over the batch in place. When st is not nil
	// it also accumulates the layer's unit statistics into st.
	Layer(s State, L *Layer, st *Stats) error
	// Final applies the final norm to the given rows and returns them
	// ([len(rows), hidden]).
	Final(s State, h *Head, rows []int) ([]float32, error)
	// Free releases the batch.
	Free(s State)
}

// Preparer is a Backend that can get a layer's weights ready ahead of
// time (the CPU widens them to float32); Run calls it on the next layer
// while the current one computes.
type Preparer interface {
	Prepare(L *Layer)
}

// CacheBackend is a Backend that can keep a sequence's keys and values
// between batches, so that generation runs each new token against them
// instead of the whole prefix again (Batch.Cache). The CPU backend is one;
// the GPU backend is not (its batches start at position 0), so Generate
// runs on the CPU.
type CacheBackend interface {
	Backend
	// NewCache returns an empty cache for one sequence of model c.
	NewCache(c *Config) Cache
	// StartCached is Start for one document that continues the sequence in
	// cache: its Span.Past is cache.Len(), and each Layer appends the
	// batch's keys and values to the cache.
	StartCached(c *Config, h []float32, docs []ops.Span, cache Cache) (State, error)
}

// Cache is a CacheBackend's keys and values of one sequence. A batch that
// fails part way leaves it unusable.
type Cache interface {
	// Len is the number of positions the cache holds.
	Len() int
}

// State is a backend's handle on a batch in flight.
type State interface{}

// Stats are one layer's unit statistics over a batch of documents, the raw
// material of every importance score (see core/prune):
//
//   - FFNDoc[d][k]: sum over document d's tokens of a_k^2, a the input of
//     down_proj (fc2): the activations whose neuron k pruning removes;
//   - AttnDoc[d][u]: sum over document d's tokens of ||y_u||^2, y_u the part of
//     o_proj's output that KV group u (its KV head and query heads) produces;
//   - FFNSum/FFNSq and OSum/OSq: over all tokens, the sum and sum of squares of
//     each input column of down_proj and o_proj (Wanda-sp, FLAP).
//
// Least-squares weight compensation (core/prune) needs the inputs
// themselves, not only their sums: when OInputs or DownInputs is set, the
// backend calls it with the o_proj input z ([n, heads*headDim], the
// concatenated attention heads) or the down_proj input a ([n, ffn]) of n
// tokens of the batch, in token order. A backend may call each several
// times per layer (the GPU once per part of the batch); the slice is only
// valid during the call.
type Stats struct {
	Tokens        int
	FFNDoc        [][]float32
	AttnDoc       [][]float32
	FFNSum, FFNSq []float64
	OSum, OSq     []float64

	OInputs    func(z []float32, n int)
	DownInputs func(a []float32, n int)
	// InputsOnly says that only the callbacks above (and Tokens) are
	// wanted: a backend may then skip the unit statistics (the CPU
	// backend does; the sums it leaves are then zero, and it still
	// computes o_proj group by group, as scoring does, so that the inputs
	// are the scoring pass's to the bit). Compensation's pass sets it.
	InputsOnly bool
}

// NewStats sizes statistics for layer L over docs documents.
func NewStats(L *Layer, hd, docs int) *Stats {
	st := &Stats{
		FFNDoc:  make([][]float32, docs),
		AttnDoc: make([][]float32, docs),
		FFNSum:  make([]float64, L.FFN),
		FFNSq:   make([]float64, L.FFN),
		OSum:    make([]float64, L.Heads*hd),
		OSq:     make([]float64, L.Heads*hd),
	}
	for d := range st.FFNDoc {
		st.FFNDoc[d] = make([]float32, L.FFN)
		st.AttnDoc[d] = make([]float32, L.KVHeads)
	}
	return st
}

// HeadBackend is a Backend that can also multiply the final normed rows by
// the output matrix (lm_head), so the vocabulary-sized product runs where
// the hidden states are (the GPU) instead of on the CPU. It is optional:
// Logits uses it when the backend implements it and ops.MatMul otherwise.
// The output matrix is still streamed from the file by Logits, a chunk of
// vocabulary rows at a time, in its file dtype.
type HeadBackend interface {
	Backend
	// HeadMatMul returns x w^T + bias ([rows, w.Rows], row-major), x the
	// rows the last Final on s returned ([rows, w.Cols]), w a chunk of
	// vocabulary rows of the output matrix and bias nil or w.Rows values.
	HeadMatMul(s State, w *Weight, bias []float32) ([]float32, error)
}
