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

// A tiny llama: one layer, hidden 32, 2 query heads sharing 1 KV head (GQA),
// FFN 64, F32 tensors under llama.cpp's names; the vocabulary is SentencePiece
// style: 3 specials, the 256 byte tokens (llama.cpp looks them up) and 61 pieces.
const (
	tHidden = 32
	tHeads  = 2
	tKV     = 1
	tHeadD  = tHidden / tHeads
	tFFN    = 64
	tVocab  = 320
	tCtx    = 128
	tEps    = 1e-5
	tTheta  = 10000
)

type tinyLlama struct {
	embd, attnNorm, q, k, v, o, ffnNorm, gate, up, down, outNorm, out []float32
}

func newTinyLlama(seed uint64) *tinyLlama {
	r := rand.New(rand.NewPCG(seed, 1))
	mat := func(n int, scale float64) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.NormFloat64() * scale)
		}
		return w
	}
	norm := func() []float32 {
		w := make([]float32, tHidden)
		for i := range w {
			w[i] = float32(1 + 0.1*r.NormFloat64())
		}
		return w
	}
	return &tinyLlama{
		embd:     mat(tVocab*tHidden, 1),
		attnNorm: norm(),
		q:        mat(tHidden*tHidden, 0.3),
		k:        mat(tKV*tHeadD*tHidden, 0.3),
		v:        mat(tKV*tHeadD*tHidden, 0.3),
		o:        mat(tHidden*tHidden, 0.2),
		ffnNorm:  norm(),
		gate:     mat(tFFN*tHidden, 0.2),
		up:       mat(tFFN*tHidden, 0.2),
		down:     mat(tHidden*tFFN, 0.15),
		outNorm:  norm(),
		out:      mat(tVocab*tHidden, 0.3),
	}
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

func (m *tinyLlama) writeGGUF(t *testing.T, path string) {
	type tensor struct {
		name string
		dims []uint64 // ne0 first: the row length, then the row count
		data []float32
	}
	tensors := []tensor{
		{"token_embd.weight", []uint64{tHidden, tVocab}, m.embd},
		{"blk.0.attn_norm.weight", []uint64{tHidden}, m.attnNorm},
		{"blk.0.attn_q.weight", []uint64{tHidden, tHidden}, m.q},
		{"blk.0.attn_k.weight", []uint64{tHidden, tKV * tHeadD}, m.k},
		{"blk.0.attn_v.weight", []uint64{tHidden, tKV * tHeadD}, m.v},
		{"blk.0.attn_output.weight", []uint64{tHidden, tHidden}, m.o},
		{"blk.0.ffn_norm.weight", []uint64{tHidden}, m.ffnNorm},
		{"blk.0.ffn_gate.weight", []uint64{tHidden, tFFN}, m.gate},
		{"blk.0.ffn_up.weight", []uint64{tHidden, tFFN}, m.up},
		{"blk.0.ffn_down.weight", []uint64{tFFN, tHidden}, m.down},
		{"output_norm.weight", []uint64{tHidden}, m.outNorm},
		{"output.weight", []uint64{tHidden, tVocab}, m.out},
	}
	var b ggufBuf
	type kv struct {
		key string
		put func()
	}
	u32 := func(v uint32) func() { return func() { b.u32(gU32); b.u32(v) } }
	f32 := func(v float32) func() { return func() { b.u32(gF32); b.u32(math.Float32bits(v)) } }
	str := func(s string) func() { return func() { b.u32(gString); b.str(s) } }
	tokens := make([]string, tVocab)
	types := make([]int32, tVocab)
	scores := make([]float32, tVocab)
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
			tokens[i], types[i] = "▁"+string(rune('a'+(i-259)%26))+string(rune('a'+(i-259)/26)), 1
			scores[i] = -float32(i)
		}
	}
	kvs := []kv{
		{"general.architecture", str("llama")},
		{"general.name", str("llamaref-tiny")},
		{"general.alignment", u32(32)},
		{"llama.context_length", u32(tCtx)},
		{"llama.embedding_length", u32(tHidden)},
		{"llama.block_count", u32(1)},
		{"llama.feed_forward_length", u32(tFFN)},
		{"llama.attention.head_count", u32(tHeads)},
		{"llama.attention.head_count_kv", u32(tKV)},
		{"llama.attention.layer_norm_rms_epsilon", f32(tEps)},
		{"llama.rope.freq_base", f32(tTheta)},
		{"llama.rope.dimension_count", u32(tHeadD)},
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
		for h := 0; h < len(x)/tHeadD; h++ {
			for i := 0; i < tHeadD/2; i++ {
				theta := float64(pos) * math.Pow(tTheta, -2*float64(i)/tHeadD)
				c, s := math.Cos(theta), math.Sin(theta)
				a, b := x[h*tHeadD+2*i], x[h*tHeadD+2*i+1]
				x[h*tHeadD+2*i], x[h*tHeadD+2*i+1] = a*c-b*s, a*s+b*c
			}
		}
	}
	n := len(ids)
	hs := make([][]float64, n)
	ks := make([][]float64, n)
	vs := make([][]float64, n)
	for p, id := range ids {
		h := make([]float64, tHidden)
		for i := range h {
			h[i] = float64(m.embd[id*tHidden+i])
		}
		hs[p] = h
		x := rmsnorm(h, m.attnNorm)
		ks[p] = matvec(m.k, x, tKV*tHeadD)
		rope(ks[p], p)
		vs[p] = matvec(m.v, x, tKV*tHeadD)
	}
	out := make([][]float64, n)
	for p := range ids {
		x := rmsnorm(hs[p], m.attnNorm)
		q := matvec(m.q, x, tHidden)
		rope(q, p)
		att := make([]float64, tHidden)
		for h := range tHeads {
			g := h / (tHeads / tKV)
			sc := make([]float64, p+1)
			mx := math.Inf(-1)
			for j := 0; j <= p; j++ {
				var d float64
				for i := range tHeadD {
					d += q[h*tHeadD+i] * ks[j][g*tHeadD+i]
				}
				sc[j] = d / math.Sqrt(tHeadD)
				mx = math.Max(mx, sc[j])
			}
			var sum float64
			for j := range sc {
				sc[j] = math.Exp(sc[j] - mx)
				sum += sc[j]
			}
			for j := range sc {
				for i := range tHeadD {
					att[h*tHeadD+i] += sc[j] / sum * vs[j][g*tHeadD+i]
				}
			}
		}
		h := append([]float64(nil), hs[p]...)
		for i, v := range matvec(m.o, att, tHidden) {
			h[i] += v
		}
		x = rmsnorm(h, m.ffnNorm)
		gate, up := matvec(m.gate, x, tFFN), matvec(m.up, x, tFFN)
		for i := range gate {
			gate[i] = gate[i] / (1 + math.Exp(-gate[i])) * up[i]
		}
		for i, v := range matvec(m.down, gate, tHidden) {
			h[i] += v
		}
		logits := matvec(m.out, rmsnorm(h, m.outNorm), tVocab)
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

func TestLogitsTinyLlama(t *testing.T) {
	if err := Available(""); err != nil {
		t.Skip(err)
	}
	m := newTinyLlama(7)
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	m.writeGGUF(t, path)
	ids := []int{1, 17, 300, 5, 263, 8, 8, 319, 2, 11, 50, 4}

	r, err := Eval(path, ids, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("llama.cpp: load %d ms, eval %d ms, node process %d ms (%d tokens, vocab %d)", r.LoadMS, r.EvalMS, r.WallMS, len(ids), r.NVocab)
	if r.Kind != KindLogprobs && r.Kind != KindLogits {
		t.Fatalf("kind %q", r.Kind)
	}
	if r.NVocab != tVocab || len(r.Values) != len(ids) {
		t.Fatalf("got %d positions of %d values, want %d of %d", len(r.Values), r.NVocab, len(ids), tVocab)
	}
	want := m.forward(ids)
	var worst float64
	for p, row := range r.Values {
		if len(row) != tVocab {
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
	if worst > 1e-4 {
		t.Errorf("llama.cpp and the reference forward pass differ by up to %.3g in log-probability", worst)
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

func TestLogitsErrors(t *testing.T) {
	if err := Available(""); err != nil {
		t.Skip(err)
	}
	if _, _, err := Logits(filepath.Join(t.TempDir(), "missing.gguf"), []int{1}); err == nil {
		t.Error("a missing file gave no error")
	} else {
		t.Log(err)
	}
	if _, _, err := Logits("x.gguf", nil); err == nil {
		t.Error("no ids gave no error")
	}
	m := newTinyLlama(1)
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	m.writeGGUF(t, path)
	if _, _, err := Logits(path, []int{1, tVocab}); err == nil {
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
