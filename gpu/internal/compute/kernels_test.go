//go:build !js && !wasip1

package compute

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/shaders"
)

// kernelSpecs is every kernel the package builds: shader files, entry
// point and bindings, as ops.go asks for them.
var kernelSpecs = []struct {
	files []string
	entry string
	kinds []Kind
}{
	{[]string{"wload_f32", "matmul"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_bf16", "matmul"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_f16", "matmul"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_f32", "matmul_tiled"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_bf16", "matmul_tiled"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_f16", "matmul_tiled"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_f32", "matmul_regs"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_bf16", "matmul_regs"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_f16", "matmul_regs"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"rmsnorm"}, "main", []Kind{Read, Read, ReadWrite, Uniform}},
	{[]string{"layernorm"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"rope"}, "main", []Kind{ReadWrite, Read, Read, Uniform}},
	{[]string{"attention"}, "main", []Kind{Read, Read, Read, Read, ReadWrite, Uniform}},
	{[]string{"swiglu"}, "main", []Kind{Read, ReadWrite, Uniform}},
	{[]string{"gelu"}, "main", []Kind{ReadWrite, Uniform}},
	{[]string{"add"}, "main", []Kind{Read, ReadWrite, Uniform}},
	{[]string{"add"}, "rows", []Kind{Read, ReadWrite, Uniform}},
	{[]string{"wload_f32", "embed"}, "main", []Kind{Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_bf16", "embed"}, "main", []Kind{Read, Read, ReadWrite, Uniform}},
	{[]string{"wload_f16", "embed"}, "main", []Kind{Read, Read, ReadWrite, Uniform}},
	{[]string{"importance"}, "by_doc", []Kind{Read, Read, ReadWrite, Uniform}},
	{[]string{"importance"}, "columns", []Kind{Read, Read, ReadWrite, Uniform}},
	{[]string{"importance"}, "group", []Kind{Read, Read, ReadWrite, Uniform}},
}

// TestShadersCompile builds every kernel natively (naga to SPIR-V, then a
// Vulkan pipeline): the browser only logs WGSL errors to its console, so
// this is where a broken shader is caught. Every embedded file must be
// used by some kernel.
func TestShadersCompile(t *testing.T) {
	d := device(t)
	used := map[string]bool{}
	for _, s := range kernelSpecs {
		name := strings.Join(s.files, "+") + ":" + s.entry
		if _, err := d.Kernel(s.files, s.entry, s.kinds...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, f := range s.files {
			used[f] = true
		}
	}
	for _, n := range shaders.Names() {
		if !used[n] {
			t.Errorf("shader %s.wgsl is compiled by no test kernel", n)
		}
	}
	if _, err := d.Compile("broken", "fn main( { garbage", "main", ReadWrite); err == nil {
		t.Error("invalid WGSL compiled without an error")
	}
}

func check(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if e, at := maxRel(got, want, 1e-6); e > tol {
		t.Errorf("%s: max rel error %.3g at %d: got %g want %g", what, e, at, got[at], want[at])
	} else {
		t.Logf("%s: max rel error %.2e", what, e)
	}
}

func TestNorms(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(5, 6))
	n, dim := 7, 100
	x := randVec(r, n*dim, 3)
	w, b := randVec(r, dim, 1), randVec(r, dim, 1)
	X, W, B, Y := upF32(t, d, x), upF32(t, d, w), upF32(t, d, b), zeros(t, d, n*dim)

	want := make([]float32, n*dim)
	ops.RMSNorm(want, x, w, n, dim, 1e-5)
	run(t, d, func(p *Pass) { p.RMSNorm(Y, X, W, n, dim, 1e-5) })
	check(t, "rmsnorm", readF32(t, d, Y, n*dim), want, 1e-5)

	ops.LayerNorm(want, x, w, b, n, dim, 1e-5)
	run(t, d, func(p *Pass) { p.LayerNorm(Y, X, W, B, n, dim, 1e-5) })
	check(t, "layernorm", readF32(t, d, Y, n*dim), want, 1e-5)
}

func TestRope(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(7, 8))
	n, heads, hd, rot := 9, 3, 16, 12 // partial rotary: 12 of 16 dimensions
	half := rot / 2
	x := randVec(r, n*heads*hd, 1)
	pos := make([]int, n)
	for i := range pos {
		pos[i] = 3 + 5*i
	}
	inv := make([]float32, half)
	for i := range inv {
		inv[i] = float32(1 / math.Pow(10000, float64(2*i)/float64(rot)))
	}
	const scale = 1.1
	cos, sin := make([]float32, n*half), make([]float32, n*half)
	for t := 0; t < n; t++ {
		for i := 0; i < half; i++ {
			a := float64(pos[t]) * float64(inv[i])
			cos[t*half+i], sin[t*half+i] = float32(math.Cos(a))*scale, float32(math.Sin(a))*scale
		}
	}
	X := upF32(t, d, x)
	want := slices.Clone(x)
	ops.Rope(want, pos, n, heads, hd, rot, inv, scale)
	run(t, d, func(p *Pass) { p.Rope(X, upF32(t, d, cos), upF32(t, d, sin), n, heads, hd, half) })
	check(t, "rope", readF32(t, d, X, len(x)), want, 1e-6)
}

func TestAttention(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(9, 10))
	for _, c := range []struct{ heads, kvh, hd int }{{4, 2, 16}, {6, 6, 80}, {4, 1, 128}} {
		docs := []ops.Span{{Start: 0, Len: 5}, {Start: 5, Len: 70}, {Start: 75, Len: 1}}
		n := 76
		q := randVec(r, n*c.heads*c.hd, 2)
		k := randVec(r, n*c.kvh*c.hd, 2)
		v := randVec(r, n*c.kvh*c.hd, 1)
		want := make([]float32, n*c.heads*c.hd)
		ops.Attention(want, q, k, v, docs, nil, nil, c.heads, c.kvh, c.hd)
		rs := make([]uint32, n)
		for _, dc := range docs {
			for i := 0; i < dc.Len; i++ {
				rs[dc.Start+i] = uint32(dc.Start)
			}
		}
		Z := zeros(t, d, len(want))
		run(t, d, func(p *Pass) {
			p.Attention(Z, upF32(t, d, q), upF32(t, d, k), upF32(t, d, v), upU32(t, d, rs), n, c.heads, c.kvh, c.hd)
		})
		check(t, "attention", readF32(t, d, Z, len(want)), want, 1e-5)
	}
}

func TestActivations(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(11, 12))
	n := 1000
	g, u := randVec(r, n, 12), randVec(r, n, 2)
	g[0], g[1] = -200, 200 // exp overflow must not make NaN
	want := make([]float32, n)
	ops.SwiGLU(want, g, u)
	A := upF32(t, d, u)
	run(t, d, func(p *Pass) { p.SwiGLU(A, upF32(t, d, g), n) })
	check(t, "swiglu", readF32(t, d, A, n), want, 1e-6)

	want = slices.Clone(g)
	ops.GeluTanh(want)
	G := upF32(t, d, g)
	run(t, d, func(p *Pass) { p.Gelu(G, n) })
	check(t, "gelu", readF32(t, d, G, n), want, 1e-6)

	want = slices.Clone(u)
	ops.Add(want, g)
	Y := upF32(t, d, u)
	run(t, d, func(p *Pass) { p.Add(Y, upF32(t, d, g), n) })
	check(t, "add", readF32(t, d, Y, n), want, 0)
}

func TestEmbed(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(13, 14))
	vocab, dim := 50, 24
	raw, table := encode(t, randVec(r, vocab*dim, 1), tensor.BF16)
	ids := []int{3, 49, 0, 3, 17, 26}
	want := make([]float32, len(ids)*dim)
	ops.Embed(want, table, ids, dim)
	saved := d.MaxBinding
	d.MaxBinding = uint64(dim * 2 * 8) // 8 rows per chunk: ids spread over chunks
	W, err := d.UploadMatrix(raw, tensor.BF16, vocab, dim, "embed")
	d.MaxBinding = saved
	if err != nil {
		t.Fatal(err)
	}
	defer W.Release()
	u := make([]uint32, len(ids))
	for i, id := range ids {
		u[i] = uint32(id)
	}
	Y := zeros(t, d, len(want))
	run(t, d, func(p *Pass) { p.Embed(Y, upU32(t, d, u), W, len(ids)) })
	check(t, "embed", readF32(t, d, Y, len(want)), want, 0)
}

func TestImportance(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(15, 16))
	docs := []ops.Span{{Start: 0, Len: 4}, {Start: 4, Len: 11}, {Start: 15, Len: 2}}
	n, w := 17, 70
	x := randVec(r, n*w, 2)
	acc := make([][]float32, len(docs))
	for i := range acc {
		acc[i] = make([]float32, w)
	}
	ops.SumSquaresByDoc(acc, x, docs, w)
	sum, sq := make([]float64, w), make([]float64, w)
	ops.ColumnSums(sum, sq, x, n, w)
	spans := []uint32{0, 4, 4, 11, 15, 2}
	total := len(docs)*w + 2*w + len(docs)
	ACC := zeros(t, d, total)
	X, D := upF32(t, d, x), upU32(t, d, spans)
	run(t, d, func(p *Pass) {
		p.SumSquaresByDoc(ACC, X, D, len(docs), w, 0)
		p.ColumnSums(ACC, X, D, n, w, len(docs)*w, len(docs)*w+w)
		p.GroupSumSquares(ACC, X, D, len(docs), w, len(docs)*w+2*w, 1)
	})
	got := readF32(t, d, ACC, total)
	check(t, "by_doc", got[:len(docs)*w], flat32(acc), 1e-5)
	check(t, "column sums", got[len(docs)*w:len(docs)*w+w], to32(sum), 1e-5)
	check(t, "column squares", got[len(docs)*w+w:len(docs)*w+2*w], to32(sq), 1e-5)
	group := make([]float32, len(docs))
	for i := range docs {
		for _, v := range acc[i] {
			group[i] += v
		}
	}
	check(t, "group", got[len(docs)*w+2*w:], group, 1e-5)
}

// TestLimits: asking for more than the device allows is an error, never a
// panic or a hang.
func TestLimits(t *testing.T) {
	d := device(t)
	lim := d.Limits()
	if _, err := d.NewTensor(lim.MaxBufferSize + 1<<20); err == nil {
		t.Errorf("a buffer past MaxBufferSize (%d) was allocated", lim.MaxBufferSize)
	} else {
		t.Logf("over-limit buffer: %v", err)
	}
	if _, err := d.NewTensor(1 << 62); err == nil {
		t.Error("a 4 EiB buffer was allocated")
	}
	// A dispatch beyond the workgroup limit fails at Submit.
	p, err := d.NewPass()
	if err != nil {
		t.Fatal(err)
	}
	X := zeros(t, d, 4)
	p.Gelu(X, 1)
	k, _ := d.Kernel([]string{"gelu"}, "main", ReadWrite, Uniform)
	p.Dispatch(k, [3]uint32{lim.MaxComputeWorkgroupsPerDimension + 1, 1, 1}, []uint32{1, 0, 0, 0}, X)
	if err := p.Submit(); err == nil {
		t.Error("an over-limit dispatch was submitted")
	}
	// A binding count mismatch is an error too.
	p, _ = d.NewPass()
	p.Dispatch(k, [3]uint32{1, 1, 1}, nil, X)
	if err := p.Submit(); err == nil {
		t.Error("a dispatch with a missing binding was submitted")
	}
	// The device still works afterwards.
	run(t, d, func(p *Pass) { p.Gelu(X, 4) })
	readF32(t, d, X, 4)
}
