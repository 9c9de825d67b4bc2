package app

import "io"

// Chunks is the writer the page's export goes through: small writes are
// gathered and large ones cut, so that the sink sees writes of Size bytes
// (the last one shorter). Each write crosses into JavaScript and is stored
// by the page's thread, so few of them, and none so large that storing it
// holds that thread: an embedding written whole (Qwen2.5-0.5B's is 272 MB)
// took 769 ms there.
type Chunks struct {
	W    io.Writer
	Size int
	buf  []byte
}

// Write passes p on in chunks of Size bytes, keeping what is left over.
func (c *Chunks) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(c.buf) == 0 && len(p) >= c.Size {
			if _, err := c.W.Write(p[:c.Size]); err != nil {
				return n - len(p), err
			}
			p = p[c.Size:]
			continue
		}
		k := min(c.Size-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == c.Size {
			if err := c.Flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// Flush writes what is left over.
func (c *Chunks) Flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.W.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}
