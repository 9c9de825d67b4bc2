package llamaref

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// shape of a hand-made llama: F32 tensors under llama.cpp's names and a
// SentencePiece-style vocabulary of 3 specials, the 256 byte tokens (llama.cpp
// looks them up and aborts when one is missing) and plain pieces.
type shape struct {
	hidden, heads, kv, ffn, vocab, layers, ctx int
}

func (c shape) headDim() int { return c.hidden / c.heads }

// tiny: one layer, hidden 32, 2 query heads sharing 1 KV head (GQA), FFN 64.
var tiny = shape{hidden: 32, heads: 2, kv: 1, ffn: 64, vocab: 320, layers: 1, ctx: 128}

const (
	tEps   = 1e-5
	tTheta = 10000
)

type layer struct {
	attnNorm, q, k, v, o, ffnNorm, gate, up, down []float32
}

type tinyLlama struct {
	shape
	embd, outNorm, out []float32
	blk                []layer
}

func newTinyLlama(c shape, seed uint64) *tinyLlama {
	r := rand.New(rand.NewPCG(seed, 1))
	mat := func(n int, scale float64) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.NormFloat64() * scale)
		}
		return w
	}
	norm := func() []float32 {
		w := make([]float32, c.hidden)
		for i := range w {
			w[i] = float32(1 + 0.1*r.NormFloat64())
		}
		return w
	}
	h, kvd := c.hidden, c.kv*c.headDim()
	is := 1 / math.Sqrt(float64(h))
	m := &tinyLlama{shape: c, embd: mat(c.vocab*h, 1)}
	for range c.layers {
		m.blk = append(m.blk, layer{
			attnNorm: norm(),
			q:        mat(h*h, 1.7*is),
			k:        mat(kvd*h, 1.7*is),
			v:        mat(kvd*h, 1.7*is),
			o:        mat(h*h, 1.1*is),
			ffnNorm:  norm(),
			gate:     mat(c.ffn*h, 1.1*is),
			up:       mat(c.ffn*h, 1.1*is),
			down:     mat(h*c.ffn, 1.2/math.Sqrt(float64(c.ffn))),
		})
	}
	m.outNorm = norm()
	m.out = mat(c.vocab*h, 1.7*is)
	return m
}

// ggufBuf writes GGUF v3 by hand (the test owns no dependency on core/gguf).
type ggufBuf struct{ bytes.Buffer }

func (b *ggufBuf) u32(v uint32) { binary.Write(b, binary.LittleEndian, v) }
func (b *ggufBuf) u64(v uint64) { binary.Write(b, binary.LittleEndian, v) }
func (b *ggufBuf) str(s string) { b.u64(uint64(len(s))); b.WriteString(s) }

const (
	gU32    = 4
	gI32    = 5
	gF32    = 6
	gString = 8
	gArray  = 9
)

func (m *tinyLlama) writeGGUF(t testing.TB, path string) {
	type tensor struct {
		name string
		dims []uint64 // ne0 first: the row length, then the row count
		data []float32
	}
	h, kvd, ff := uint64(m.hidden), uint64(m.kv*m.headDim()), uint64(m.ffn)
	tensors := []tensor{{"token_embd.weight", []uint64{h, uint64(m.vocab)}, m.embd}}
	for i, l := range m.blk {
		p := fmt.Sprintf("blk.%d.", i)
		tensors = append(tensors,
			tensor{p + "attn_norm.weight", []uint64{h}, l.attnNorm},
			tensor{p + "attn_q.weight", []uint64{h, h}, l.q},
			tensor{p + "attn_k.weight", []uint64{h, kvd}, l.k},
			tensor{p + "attn_v.weight", []uint64{h, kvd}, l.v},
			tensor{p + "attn_output.weight", []uint64{h, h}, l.o},
			tensor{p + "ffn_norm.weight", []uint64{h}, l.ffnNorm},
			tensor{p + "ffn_gate.weight", []uint64{h, ff}, l.gate},
			tensor{p + "ffn_up.weight", []uint64{h, ff}, l.up},
			tensor{p + "ffn_down.weight", []uint64{ff, h}, l.down})
	}
	tensors = append(tensors,
		tensor{"output_norm.weight", []uint64{h}, m.outNorm},
		tensor{"output.weight", []uint64{h, uint64(m.vocab)}, m.out})
	var b ggufBuf
	type kv struct {
		key string
		put func()
	}
	u32 := func(v uint32) func() { return func() { b.u32(gU32); b.u32(v) } }
	f32 := func(v float32) func() { return func() { b.u32(gF32); b.u32(math.Float32bits(v)) } }
	str := func(s string) func() { return func() { b.u32(gString); b.str(s) } }
	tokens := make([]string, m.vocab)
	types := make([]int32, m.vocab)
	scores := make([]float32, m.vocab)
	for i := range tokens {
		switch {
		case i == 0:
			tokens[i], types[i] = "<unk>", 2
		case i == 1:
			tokens[i], types[i] = "<s>", 3
		case i == 2:
			tokens[i], types[i] = "</s>", 3
		case i < 3+256:
			tokens[i], types[i] = fmt.Sprintf("<0x%02X>", i-3), 6
		default:
			tokens[i], types[i] = fmt.Sprintf("▁%c%d", 'a'+(i-259)%26, (i-259)/26), 1
			scores[i] = -float32(i)
		}
	}
	kvs := []kv{
		{"general.architecture", str("llama")},
		{"general.name", str("llamaref-tiny")},
		{"general.alignment", u32(32)},
		{"llama.context_length", u32(uint32(m.ctx))},
		{"llama.embedding_length", u32(uint32(m.hidden))},
		{"llama.block_count", u32(uint32(m.layers))},
		{"llama.feed_forward_length", u32(uint32(m.ffn))},
		{"llama.attention.head_count", u32(uint32(m.heads))},
		{"llama.attention.head_count_kv", u32(uint32(m.kv))},
		{"llama.attention.layer_norm_rms_epsilon", f32(tEps)},
		{"llama.rope.freq_base", f32(tTheta)},
		{"llama.rope.dimension_count", u32(uint32(m.headDim()))},
		{"tokenizer.ggml.model", str("llama")},
		{"tokenizer.ggml.tokens", func() {
			b.u32(gArray)
			b.u32(gString)
			b.u64(uint64(len(tokens)))
			for _, s := range tokens {
				b.str(s)
			}
		}},
		{"tokenizer.ggml.scores", func() {
			b.u32(gArray)
			b.u32(gF32)
			b.u64(uint64(len(scores)))
			for _, s := range scores {
				b.u32(math.Float32bits(s))
			}
		}},
		{"tokenizer.ggml.token_type", func() {
			b.u32(gArray)
			b.u32(gI32)
			b.u64(uint64(len(types)))
			for _, s := range types {
				b.u32(uint32(s))
			}
		}},
		{"tokenizer.ggml.bos_token_id", u32(1)},
		{"tokenizer.ggml.eos_token_id", u32(2)},
		{"tokenizer.ggml.unknown_token_id", u32(0)},
	}
	b.WriteString("GGUF")
	b.u32(3)
	b.u64(uint64(len(tensors)))
	b.u64(uint64(len(kvs)))
	for _, e := range kvs {
		b.str(e.key)
		e.put()
	}
	const align = 32
	pad := func(n int) int { return (n + align - 1) / align * align }
	off := 0
	for _, tn := range tensors {
		b.str(tn.name)
		b.u32(uint32(len(tn.dims)))
		for _, d := range tn.dims {
			b.u64(d)
		}
		b.u32(0) // GGML_TYPE_F32
		b.u64(uint64(off))
		off = pad(off + 4*len(tn.data))
	}
	b.Write(make([]byte, pad(b.Len())-b.Len()))
	for _, tn := range tensors {
		start := b.Len()
		for _, v := range tn.data {
			b.u32(math.Float32bits(v))
		}
		b.Write(make([]byte, pad(b.Len()-start)-(b.Len()-start)))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// forward is an independent float64 reference of llama.cpp's llama graph:
// RMSNorm, RoPE on adjacent pairs (GGUF stores Q/K rows in that order), causal
// GQA attention, SwiGLU. It returns log_softmax of the logits per position.
func (m *tinyLlama) forward(ids []int) [][]float64 {
	hd, kvd := m.headDim(), m.kv*m.headDim()
	matvec := func(w []float32, x []float64, rows int) []float64 {
		cols := len(x)
		y := make([]float64, rows)
		for r := range rows {
			var s float64
			for c := range cols {
				s += float64(w[r*cols+c]) * x[c]
			}
			y[r] = s
		}
		return y
	}
	rmsnorm := func(x []float64, w []float32) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+tEps)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = v * inv * float64(w[i])
		}
		return y
	}
	rope := func(x []float64, pos int) {
		for h := 0; h < len(x)/hd; h++ {
			for i := 0; i < hd/2; i++ {
				theta := float64(pos) * math.Pow(tTheta, -2*float64(i)/float64(hd))
				c, s := math.Cos(theta), math.Sin(theta)
				a, b := x[h*hd+2*i], x[h*hd+2*i+1]
				x[h*hd+2*i], x[h*hd+2*i+1] = a*c-b*s, a*s+b*c
			}
		}
	}
	n := len(ids)
	hs := make([][]float64, n)
	for p, id := range ids {
		hs[p] = make([]float64, m.hidden)
		for i := range hs[p] {
			hs[p][i] = float64(m.embd[id*m.hidden+i])
		}
	}
	for _, l := range m.blk {
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for p := range n {
			x := rmsnorm(hs[p], l.attnNorm)
			qs[p], ks[p], vs[p] = matvec(l.q, x, m.hidden), matvec(l.k, x, kvd), matvec(l.v, x, kvd)
			rope(qs[p], p)
			rope(ks[p], p)
		}
		for p := range n {
			att := make([]float64, m.hidden)
			for h := range m.heads {
				g := h / (m.heads / m.kv)
				sc := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := range sc {
					var d float64
					for i := range hd {
						d += qs[p][h*hd+i] * ks[j][g*hd+i]
					}
					sc[j] = d / math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for i := range hd {
						att[h*hd+i] += sc[j] / sum * vs[j][g*hd+i]
					}
				}
			}
			for i, v := range matvec(l.o, att, m.hidden) {
				hs[p][i] += v
			}
			x := rmsnorm(hs[p], l.ffnNorm)
			gate, up := matvec(l.gate, x, m.ffn), matvec(l.up, x, m.ffn)
			for i := range gate {
				gate[i] = gate[i] / (1 + math.Exp(-gate[i])) * up[i]
			}
			for i, v := range matvec(l.down, gate, m.hidden) {
				hs[p][i] += v
			}
		}
	}
	out := make([][]float64, n)
	for p := range n {
		logits := matvec(m.out, rmsnorm(hs[p], m.outNorm), m.vocab)
		mx := math.Inf(-1)
		for _, v := range logits {
			mx = math.Max(mx, v)
		}
		var sum float64
		for _, v := range logits {
			sum += math.Exp(v - mx)
		}
		lse := mx + math.Log(sum)
		for i := range logits {
			logits[i] -= lse
		}
		out[p] = logits
	}
	return out
}

// check compares llama.cpp with the reference forward pass and with itself.
func check(t *testing.T, m *tinyLlama, ids []int, tol float64) {
	path := filepath.Join(t.TempDir(), "model.gguf")
	m.writeGGUF(t, path)
	r, err := Eval(path, ids, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("llama.cpp: load %d ms, eval %d ms, convert %d ms, node process %d ms (%d tokens, vocab %d)",
		r.LoadMS, r.EvalMS, r.ConvertMS, r.WallMS, len(ids), r.NVocab)
	if r.Kind != KindLogprobs && r.Kind != KindLogits {
		t.Fatalf("kind %q", r.Kind)
	}
	if r.NVocab != m.vocab || len(r.Values) != len(ids) {
		t.Fatalf("got %d positions of %d values, want %d of %d", len(r.Values), r.NVocab, len(ids), m.vocab)
	}
	want := m.forward(ids)
	var worst float64
	for p, row := range r.Values {
		if len(row) != m.vocab {
			t.Fatalf("position %d has %d values", p, len(row))
		}
		best, sum := 0, 0.0
		for i, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("position %d token %d: %v", p, i, v)
			}
			sum += math.Exp(float64(v))
			if v > row[best] {
				best = i
			}
			worst = math.Max(worst, math.Abs(float64(v)-want[p][i]))
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Errorf("position %d: probabilities sum to %v", p, sum)
		}
		if best != r.Top1[p] && row[best] != row[r.Top1[p]] {
			t.Errorf("position %d: top1 %d but argmax %d", p, r.Top1[p], best)
		}
	}
	t.Logf("max |log p(llama.cpp) - log p(float64 reference)| = %.3g", worst)
	if worst > tol {
		t.Errorf("llama.cpp and the reference forward pass differ by up to %.3g in log-probability", worst)
	}

	last, err := Eval(path, ids, Options{LastOnly: true, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Values) != 1 || len(last.Positions) != 1 || last.Positions[0] != len(ids)-1 || last.Top1[0] != r.Top1[len(ids)-1] {
		t.Fatalf("LastOnly gave positions %v, top1 %v", last.Positions, last.Top1)
	}
	for i, v := range last.Values[0] {
		if d := math.Abs(float64(v - r.Values[len(ids)-1][i])); d > 1e-5 {
			t.Fatalf("LastOnly with 2 threads differs from every position with 1 at token %d by %g", i, d)
		}
	}

	again, kind, err := Logits(path, ids)
	if err != nil {
		t.Fatal(err)
	}
	if kind != r.Kind {
		t.Fatalf("kind %q then %q", r.Kind, kind)
	}
	for p := range again {
		for i := range again[p] {
			if math.Float32bits(again[p][i]) != math.Float32bits(r.Values[p][i]) {
				t.Fatalf("not deterministic at position %d token %d: %v then %v", p, i, r.Values[p][i], again[p][i])
			}
		}
	}
}

func TestLogitsTinyLlama(t *testing.T) {
	if err := Available(""); err != nil {
		Missing(t, err)
	}
	check(t, newTinyLlama(tiny, 7), []int{1, 17, 300, 5, 263, 8, 8, 319, 2, 11, 50, 4}, 1e-4)
}

// Three layers, 4 query heads over 2 KV groups, 40 positions.
func TestLogitsSmallLlama(t *testing.T) {
	if err := Available(""); err != nil {
		Missing(t, err)
	}
	c := shape{hidden: 64, heads: 4, kv: 2, ffn: 96, vocab: 400, layers: 3, ctx: 256}
	ids := make([]int, 40)
	for i := range ids {
		ids[i] = (i*97 + 1) % c.vocab
	}
	check(t, newTinyLlama(c, 3), ids, 1e-4)
}

func TestLogitsErrors(t *testing.T) {
	if err := Available(""); err != nil {
		Missing(t, err)
	}
	if _, _, err := Logits(filepath.Join(t.TempDir(), "missing.gguf"), []int{1}); err == nil {
		t.Error("a missing file gave no error")
	} else {
		t.Log(err)
	}
	if _, _, err := Logits("x.gguf", nil); err == nil {
		t.Error("no ids gave no error")
	}
	m := newTinyLlama(tiny, 1)
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	m.writeGGUF(t, path)
	if _, _, err := Logits(path, []int{1, tiny.vocab}); err == nil {
		t.Error("an id outside the vocabulary gave no error")
	} else {
		t.Log(err)
	}
}

func TestAvailableReportsMissingDeps(t *testing.T) {
	if err := Available(t.TempDir()); err == nil {
		t.Error("an empty deps folder was reported usable")
	}
}

// BenchmarkLlamaCpp times one node-llama-cpp run (node start, load, evaluate,
// write) on a model of tiny-multi's shape: hidden 256, 4 layers, 8 heads over 4
// KV groups, FFN 768, vocabulary 32000, 256 positions.
func BenchmarkLlamaCpp(b *testing.B) {
	if err := Available(""); err != nil {
		b.Skip(err)
	}
	c := shape{hidden: 256, heads: 8, kv: 4, ffn: 768, vocab: 32000, layers: 4, ctx: 512}
	path := filepath.Join(b.TempDir(), "model.gguf")
	newTinyLlama(c, 5).writeGGUF(b, path)
	ids := make([]int, 256)
	for i := range ids {
		ids[i] = (i*7919 + 1) % c.vocab
	}
	for _, last := range []bool{false, true} {
		name := "all-positions"
		if last {
			name = "last-position"
		}
		b.Run(name, func(b *testing.B) {
			var load, eval, conv int
			for b.Loop() {
				r, err := Eval(path, ids, Options{LastOnly: last})
				if err != nil {
					b.Fatal(err)
				}
				load, eval, conv = load+r.LoadMS, eval+r.EvalMS, conv+r.ConvertMS
			}
			b.ReportMetric(float64(load)/float64(b.N), "load-ms/op")
			b.ReportMetric(float64(eval)/float64(b.N), "eval-ms/op")
			b.ReportMetric(float64(conv)/float64(b.N), "convert-ms/op")
		})
	}
}
