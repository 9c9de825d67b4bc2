package tokenizer

import (
	"sync"
	"unicode/utf8"
)

// sym is one symbol of a word being merged: a token id (BPE) or a byte range
// of the word (SPM), linked to its neighbours.
type sym struct {
	id         int32
	prev, next int32
	start, end int32
}

// cand is a possible merge of symbol left with its right neighbour right.
type cand struct {
	key   float32 // BPE: rank; SPM: -score (smaller merges first)
	left  int32
	right int32
	lid   int32 // BPE: ids the pair had when queued
	rid   int32
	id    int32 // BPE: the merged id; SPM: byte length of the pair
}

func candLess(a, b *cand) bool {
	return a.key < b.key || (a.key == b.key && a.left < b.left)
}

type work struct {
	syms []sym
	heap []cand
	segs []segment
}

var workPool = sync.Pool{New: func() any { return &work{} }}

func getWork() *work  { return workPool.Get().(*work) }
func putWork(w *work) { workPool.Put(w) }

func (w *work) push(c cand) {
	h := append(w.heap, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !candLess(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	w.heap = h
}

func (w *work) pop() cand {
	h := w.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && candLess(&h[r], &h[l]) {
			m = r
		}
		if !candLess(&h[m], &h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	w.heap = h
	return top
}

// bpeWord applies ranked merges to one word, as Hugging Face's BPE model
// does: characters (or their byte tokens, or unk) first, then repeatedly the
// lowest-ranked adjacent pair, leftmost first.
func (t *Tokenizer) bpeWord(w *work, s string, out []int32) []int32 {
	syms := w.syms[:0]
	add := func(id int32, start, end int) {
		syms = append(syms, sym{id: id, prev: int32(len(syms)) - 1, next: int32(len(syms)) + 1, start: int32(start), end: int32(end)})
	}
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		ch := s[i : i+n]
		var id int32
		var ok bool
		switch {
		case t.contPrefix != "" && i > 0 && t.eowSuffix != "" && i+n == len(s):
			id, ok = t.ids[t.contPrefix+ch+t.eowSuffix]
		case t.contPrefix != "" && i > 0:
			id, ok = t.ids[t.contPrefix+ch]
		case t.eowSuffix != "" && i+n == len(s):
			id, ok = t.ids[ch+t.eowSuffix]
		case n == 1 || (n == 2 && s[i] < 0xE0):
			if r, _ := utf8.DecodeRuneInString(ch); r < rune(len(t.runeIDs)) {
				id = t.runeIDs[r]
				ok = id >= 0
			}
		default:
			id, ok = t.ids[ch]
		}
		if ok {
			add(id, i, i+n)
		} else if t.byteFallback && t.hasBytes(ch) {
			for j := 0; j < n; j++ {
				add(t.byteIDs[ch[j]], i+j, i+j+1)
			}
		} else if t.unk >= 0 {
			if t.fuseUnk && len(syms) > 0 && syms[len(syms)-1].id == t.unk {
				syms[len(syms)-1].end = int32(i + n)
			} else {
				add(t.unk, i, i+n)
			}
		}
		i += n
	}
	if len(syms) == 0 {
		w.syms = syms
		return out
	}
	syms[len(syms)-1].next = -1
	w.heap = w.heap[:0]
	queue := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		if m, ok := t.merges[pairKey(syms[l].id, syms[r].id)]; ok {
			w.push(cand{key: float32(m.rank), left: l, right: r, lid: syms[l].id, rid: syms[r].id, id: m.id})
		}
	}
	if len(syms) > 1 {
		for i := 1; i < len(syms); i++ {
			queue(int32(i-1), int32(i))
		}
		for len(w.heap) > 0 {
			c := w.pop()
			l, r := &syms[c.left], &syms[c.right]
			if l.start < 0 || r.start < 0 || l.id != c.lid || r.id != c.rid || l.next != c.right {
				continue
			}
			l.id = c.id
			l.end = r.end
			l.next = r.next
			if r.next >= 0 {
				syms[r.next].prev = c.left
			}
			r.start = -1 // dead
			queue(l.prev, c.left)
			queue(c.left, l.next)
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	w.syms = syms
	return out
}

func (t *Tokenizer) hasBytes(ch string) bool {
	for j := 0; j < len(ch); j++ {
		if t.byteIDs[ch[j]] < 0 {
			return false
		}
	}
	return true
}

// spmWord is llama.cpp's SentencePiece-style merge: characters first, then
// repeatedly the adjacent pair whose concatenation is the vocabulary piece of
// highest score (leftmost on ties); symbols that are not pieces come out as
// byte tokens.
func (t *Tokenizer) spmWord(w *work, s string, out []int32) []int32 {
	syms := w.syms[:0]
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		syms = append(syms, sym{prev: int32(len(syms)) - 1, next: int32(len(syms)) + 1, start: int32(i), end: int32(i + n)})
		i += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	w.heap = w.heap[:0]
	queue := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l].start, syms[r].end
		if id, ok := t.ids[s[a:b]]; ok {
			w.push(cand{key: -t.scores[id], left: l, right: r, id: b - a})
		}
	}
	for i := 1; i < len(syms); i++ {
		queue(int32(i-1), int32(i))
	}
	for len(w.heap) > 0 {
		c := w.pop()
		l, r := &syms[c.left], &syms[c.right]
		if l.start < 0 || r.start < 0 || (l.end-l.start)+(r.end-r.start) != c.id {
			continue
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		r.start, r.end = -1, -1
		queue(l.prev, c.left)
		queue(c.left, l.next)
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		p := s[syms[i].start:syms[i].end]
		if id, ok := t.ids[p]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(p); j++ {
			if id := t.byteIDs[p[j]]; id >= 0 {
				out = append(out, id)
			} else if t.unk >= 0 {
				out = append(out, t.unk)
			}
		}
	}
	w.syms = syms
	return out
}
