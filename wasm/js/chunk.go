//go:build js && wasm

package main

import (
	"encoding/binary"
	"io"
	"math"
)

// chunker gathers small writes into chunks of at least size bytes, so the
// sink sees a few large writes (each one crosses into JS).
type chunker struct {
	w    io.Writer
	buf  []byte
	size int
}

func newChunker(w io.Writer, size int) *chunker { return &chunker{w: w, size: size} }

func (c *chunker) Write(p []byte) (int, error) {
	if len(c.buf) == 0 && len(p) >= c.size {
		return c.w.Write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= c.size {
		if err := c.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *chunker) Flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}
