package ops

import (
	"math"
	"math/rand"
	"testing"
)

// dot is one dot product of a and b[:len(a)] as dot.go defines it, through
// the lane kernel in use. The engine computes its dot products through
// dots only, so this single form lives with the tests.
func dot(a, b []float32) float32 {
	k := len(a)
	b = b[:k]
	m := k &^ (lanes - 1)
	var acc [lanes]float32
	if m > 0 {
		one(acc[:], a, b, m)
	}
	return finish(&acc, a[m:], b[m:k])
}

// refDot is the definition of dot (dot.go) written out plainly.
func refDot(a, b []float32) float32 {
	var s [lanes]float32
	m := len(a) &^ (lanes - 1)
	for j := 0; j < m; j++ {
		s[j%lanes] += float32(a[j] * b[j])
	}
	var c [8]float32
	for i := range c {
		c[i] = s[i] + s[i+8]
	}
	var d [4]float32
	for i := range d {
		d[i] = c[i] + c[i+4]
	}
	r := (d[0] + d[2]) + (d[1] + d[3])
	for j := m; j < len(a); j++ {
		r += float32(a[j] * b[j])
	}
	return r
}

// kernelSets are the kernel sets this CPU runs; "go" always.
func kernelSets(t *testing.T) []string {
	var have []string
	for _, n := range []string{"go", "avx2", "avx512"} {
		if useSIMD(n) {
			have = append(have, n)
		}
	}
	t.Cleanup(func() { useSIMD(defaultSIMD) })
	return have
}

var defaultSIMD = SIMD

func bitsEqual(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// Values with a wide range of magnitudes, so that rounding differs whenever
// the order of additions does.
func wild(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * math.Exp(3*r.NormFloat64()))
	}
	return s
}

func TestDotMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, set := range kernelSets(t) {
		useSIMD(set)
		for k := 0; k <= 200; k++ {
			a, b := wild(r, k), wild(r, k)
			got, want := dot(a, b), refDot(a, b)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s: k=%d: dot %v, definition %v", set, k, got, want)
			}
		}
	}
}

// TestMatMulSameBitsEveryKernel: MatMul's output is the same bits with every
// kernel set (pure Go, AVX2, AVX-512) and equals the definition, for shapes
// with every kind of remainder (tokens, rows, tail elements).
func TestMatMulSameBitsEveryKernel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	sets := kernelSets(t)
	t.Logf("kernel sets: %v", sets)
	shapes := [][3]int{{1, 1, 1}, {1, 16, 1}, {3, 17, 5}, {4, 32, 4}, {5, 33, 7}, {7, 64, 9}, {9, 100, 13},
		{64, 576, 24}, {70, 48, 31}, {130, 15, 6}, {2, 896, 11}, {6, 1000, 3}}
	for i := 0; i < 20; i++ {
		shapes = append(shapes, [3]int{1 + r.Intn(80), 1 + r.Intn(300), 1 + r.Intn(40)})
	}
	for _, sh := range shapes {
		n, in, out := sh[0], sh[1], sh[2]
		x, w, bias := wild(r, n*in), wild(r, out*in), wild(r, out)
		want := make([]float32, n*out)
		for tk := 0; tk < n; tk++ {
			for j := 0; j < out; j++ {
				want[tk*out+j] = refDot(x[tk*in:(tk+1)*in], w[j*in:(j+1)*in]) + bias[j]
			}
		}
		for _, set := range sets {
			useSIMD(set)
			for _, threads := range []int{1, 3} {
				Threads = threads
				y := make([]float32, n*out)
				MatMul(y, x, w, bias, n, in, out)
				if i := bitsEqual(y, want); i >= 0 {
					t.Fatalf("%s, %d threads, n=%d in=%d out=%d: y[%d] = %v, want %v", set, threads, n, in, out, i, y[i], want[i])
				}
			}
			Threads = 0
		}
	}
}

// refAttention is the definition of Attention written out one row at a time.
func refAttention(z, q, k, v []float32, docs []Span, pastK, pastV [][]float32, heads, kvHeads, hd int) {
	qw, kw := heads*hd, kvHeads*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	for d, doc := range docs {
		for h := 0; h < heads; h++ {
			kh := h / (heads / kvHeads)
			row := func(past, cur []float32, j int) []float32 {
				if j < doc.Past {
					return past[j*kw+kh*hd : j*kw+(kh+1)*hd]
				}
				r := doc.Start + j - doc.Past
				return cur[r*kw+kh*hd : r*kw+(kh+1)*hd]
			}
			for i := 0; i < doc.Len; i++ {
				r := doc.Start + i
				qr := q[r*qw+h*hd : r*qw+(h+1)*hd]
				p := make([]float32, doc.Past+i+1)
				for j := range p {
					var pk []float32
					if pastK != nil {
						pk = pastK[d]
					}
					p[j] = refDot(qr, row(pk, k, j))
				}
				softmax(p, scale)
				out := z[r*qw+h*hd : r*qw+(h+1)*hd]
				clear(out)
				for j, pj := range p {
					var pv []float32
					if pastV != nil {
						pv = pastV[d]
					}
					for e, ve := range row(pv, v, j) {
						out[e] += float32(pj * ve)
					}
				}
			}
		}
	}
}

func TestAttentionSameBitsEveryKernel(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	sets := kernelSets(t)
	for _, c := range []struct{ heads, kv, hd int }{{4, 2, 64}, {3, 3, 20}, {6, 1, 80}, {2, 1, 96}, {4, 4, 7}} {
		docs := []Span{{0, 1, 0}, {1, 37, 0}, {38, 20, 5}, {58, 16, 0}}
		n := 74
		q, k, v := wild(r, n*c.heads*c.hd), wild(r, n*c.kv*c.hd), wild(r, n*c.kv*c.hd)
		for i := range q { // keep the scores in a sane range
			q[i] *= 1e-3
		}
		pastK, pastV := make([][]float32, len(docs)), make([][]float32, len(docs))
		for d, doc := range docs {
			pastK[d], pastV[d] = wild(r, doc.Past*c.kv*c.hd), wild(r, doc.Past*c.kv*c.hd)
		}
		want := make([]float32, n*c.heads*c.hd)
		refAttention(want, q, k, v, docs, pastK, pastV, c.heads, c.kv, c.hd)
		for _, set := range sets {
			useSIMD(set)
			z := make([]float32, len(want))
			Attention(z, q, k, v, docs, pastK, pastV, c.heads, c.kv, c.hd)
			if i := bitsEqual(z, want); i >= 0 {
				t.Fatalf("%s %+v: z[%d] = %v, want %v", set, c, i, z[i], want[i])
			}
		}
	}
}

func TestExp32(t *testing.T) {
	// Against math.Exp rounded to float32: at most one float32 ulp apart
	// (denormals included), and almost always equal.
	r := rand.New(rand.NewSource(5))
	xs := []float32{0, 1, -1, 0.5, -0.5, 10, -10, 88, -87, -100, -103.9, 88.7, 1e-8, -1e-8}
	for i := 0; i < 200000; i++ {
		xs = append(xs, float32(r.Float64()*190-102))
	}
	off := 0
	for _, x := range xs {
		got, want := math.Float32bits(exp32(x)), math.Float32bits(float32(math.Exp(float64(x))))
		if got != want {
			off++
			if got+1 != want && want+1 != got {
				t.Fatalf("exp32(%v) = %v, math.Exp %v", x, exp32(x), float32(math.Exp(float64(x))))
			}
		}
	}
	if off > len(xs)/10000 {
		t.Fatalf("exp32 differs from math.Exp by an ulp at %d of %d points", off, len(xs))
	}
	t.Logf("exp32 differs from float32(math.Exp) at %d of %d points (1 ulp)", off, len(xs))
	if !math.IsInf(float64(exp32(100)), 1) || exp32(-200) != 0 || !math.IsNaN(float64(exp32(float32(math.NaN())))) {
		t.Fatal("exp32 edge cases")
	}
}
