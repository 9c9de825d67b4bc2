package app

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

type sizes struct {
	bytes.Buffer
	writes []int
}

func (s *sizes) Write(p []byte) (int, error) {
	s.writes = append(s.writes, len(p))
	return s.Buffer.Write(p)
}

// TestChunksAreOneSize: writes of every size, small and many times the
// chunk, come out as the same bytes in chunks of exactly Size, but the
// last.
func TestChunksAreOneSize(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var want bytes.Buffer
	out := &sizes{}
	c := &Chunks{W: out, Size: 1000}
	for _, n := range []int{1, 999, 1000, 1001, 0, 4321, 7, 10000, 3} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		want.Write(p)
		if k, err := c.Write(p); k != n || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatal("the chunks are not the bytes written")
	}
	for i, n := range out.writes {
		if n != 1000 && i != len(out.writes)-1 || n > 1000 || n == 0 {
			t.Fatalf("write %d of %d is %d bytes (%v)", i, len(out.writes), n, out.writes)
		}
	}
}
