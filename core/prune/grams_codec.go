package prune

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
	"math"

	"github.com/cusprun/cusprun/core/model"
)

// Gram matrices as bytes, so that engines which each scored a part of the
// calibration text (the page's CPU workers) can hand theirs to the one
// that refits: a Gram matrix over all documents is the sum of the parts'
// matrices, as its column sums and token count are. Save and Add are the
// writer and reader; NewGrams is the empty sum the parts are added into.
//
// Layout: an 8-byte little-endian length, a gob header of that length
// (version, and per layer and matrix its width, token count and column
// sums), then every matrix's upper triangle (row i from column i) as
// little-endian float64, layer by layer, o_proj's before down_proj's.

const gramsVersion = 1

type savedGrams struct {
	Version int
	Layers  [][2]savedGram
}

type savedGram struct {
	D, N int
	Sum  []float64
}

// triangle is the byte length of a d-wide upper triangle.
func triangle(d int) int64 { return 8 * int64(d) * int64(d+1) / 2 }

// NewGrams is every layer's Gram matrices of a model of config c, all
// zero, in memory: the sum that parts are added into (Add).
func NewGrams(c *model.Config) *Grams {
	gs := &Grams{spill: &memSpill{}, layers: make([][2]storedGram, c.Layers)}
	for l := 0; l < c.Layers; l++ {
		for w, d := range [2]int{c.HeadsAt(l) * c.HeadDim, c.FFNAt(l)} {
			gs.layers[l][w] = storedGram{d: d, sum: make([]float64, d), off: gs.off}
			gs.off += triangle(d)
		}
	}
	gs.spill.WriteAt(nil, gs.off) // grows the buffer to its size, zeroed
	return gs
}

// Tokens is the number of tokens the matrices were summed over.
func (gs *Grams) Tokens() int {
	if len(gs.layers) == 0 {
		return 0
	}
	return gs.layers[0][0].n
}

// Save writes the matrices (see the layout above).
func (gs *Grams) Save(w io.Writer) error {
	h := savedGrams{Version: gramsVersion, Layers: make([][2]savedGram, len(gs.layers))}
	for l, pair := range gs.layers {
		for k, sg := range pair {
			h.Layers[l][k] = savedGram{D: sg.d, N: sg.n, Sum: sg.sum}
		}
	}
	var head bytes.Buffer
	if err := gob.NewEncoder(&head).Encode(h); err != nil {
		return err
	}
	if err := binary.Write(w, binary.LittleEndian, uint64(head.Len())); err != nil {
		return err
	}
	if _, err := w.Write(head.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for l, pair := range gs.layers {
		for _, sg := range pair {
			for at, end := sg.off, sg.off+triangle(sg.d); at < end; {
				b := buf[:min(int64(len(buf)), end-at)]
				if _, err := gs.spill.ReadAt(b, at); err != nil {
					return fmt.Errorf("saving the Gram matrices of layer %d: %w", l, err)
				}
				if _, err := w.Write(b); err != nil {
					return err
				}
				at += int64(len(b))
			}
		}
	}
	return nil
}

// Add reads matrices Save wrote (of other documents, on the same model)
// and adds them into gs: the matrices, column sums and token counts. A
// stream of other widths, a truncated one or one with bytes after its end
// is refused; gs is then unusable (its sums are partly added).
func (gs *Grams) Add(r io.Reader) error {
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return fmt.Errorf("the Gram matrices: no header: %w", err)
	}
	if n > 1<<30 {
		return fmt.Errorf("the Gram matrices: a header of %d bytes", n)
	}
	head := make([]byte, n)
	if _, err := io.ReadFull(r, head); err != nil {
		return fmt.Errorf("the Gram matrices: the header ends early: %w", err)
	}
	var h savedGrams
	if err := gob.NewDecoder(bytes.NewReader(head)).Decode(&h); err != nil {
		return fmt.Errorf("the Gram matrices: %w", err)
	}
	if h.Version != gramsVersion {
		return fmt.Errorf("the Gram matrices: version %d, want %d", h.Version, gramsVersion)
	}
	if len(h.Layers) != len(gs.layers) {
		return fmt.Errorf("the Gram matrices are of %d layers, the model has %d", len(h.Layers), len(gs.layers))
	}
	tokens := 0
	if len(h.Layers) > 0 {
		tokens = h.Layers[0][0].N
	}
	for l, pair := range h.Layers {
		for k, p := range pair {
			if d := gs.layers[l][k].d; p.D != d || len(p.Sum) != d {
				return fmt.Errorf("the Gram matrices: layer %d's %s inputs are %d wide, the model's %d", l, [2]string{"o_proj", "down_proj"}[k], p.D, d)
			}
			if p.N != tokens {
				return fmt.Errorf("the Gram matrices: layer %d was summed over %d tokens, layer 0 over %d", l, p.N, tokens)
			}
		}
	}
	in := make([]byte, 1<<20)
	acc := make([]byte, len(in))
	for l, pair := range gs.layers {
		for k := range pair {
			sg := &gs.layers[l][k]
			for at, end := sg.off, sg.off+triangle(sg.d); at < end; {
				b, a := in[:min(int64(len(in)), end-at)], acc[:min(int64(len(in)), end-at)]
				if _, err := io.ReadFull(r, b); err != nil {
					return fmt.Errorf("the Gram matrices end early, in layer %d: %w", l, err)
				}
				if _, err := gs.spill.ReadAt(a, at); err != nil {
					return fmt.Errorf("adding the Gram matrices of layer %d: %w", l, err)
				}
				for i := 0; i < len(b); i += 8 {
					v := math.Float64frombits(binary.LittleEndian.Uint64(a[i:])) +
						math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
					binary.LittleEndian.PutUint64(a[i:], math.Float64bits(v))
				}
				if _, err := gs.spill.WriteAt(a, at); err != nil {
					return fmt.Errorf("adding the Gram matrices of layer %d: %w", l, err)
				}
				at += int64(len(b))
			}
			addInto(sg.sum, h.Layers[l][k].Sum)
			sg.n += tokens
		}
	}
	if k, _ := r.Read(in[:1]); k > 0 {
		return fmt.Errorf("the Gram matrices: bytes after the last layer")
	}
	return nil
}
