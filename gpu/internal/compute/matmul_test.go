//go:build !js && !wasip1

package compute

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/tensor"
)

func encode(t testing.TB, v []float32, dt tensor.DType) ([]byte, []float32) {
	raw, err := tensor.Encode(nil, v, dt)
	if err != nil {
		t.Fatal(err)
	}
	back := make([]float32, len(v))
	if err := tensor.Decode(back, raw, dt); err != nil {
		t.Fatal(err)
	}
	return raw, back
}

func TestMatMul(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 2))
	type tc struct {
		dt     tensor.DType
		kernel string
	}
	var cases []tc
	for _, k := range []string{"simple", "regs", "tiled"} {
		for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
			// A CPU driver JITs the tiled kernel slowly (half a minute a
			// dtype): check it in bf16 only there.
			// Under -short, not at all.
			if k != "tiled" || d.MatMulKernel == "tiled" || dt == tensor.BF16 && !testing.Short() {
				cases = append(cases, tc{dt, k})
			}
		}
	}
	defer func(v string) { d.MatMulKernel = v }(d.MatMulKernel)
	for _, c := range cases {
		dt := c.dt
		d.MatMulKernel = c.kernel
		for _, sz := range [][3]int{{1, 7, 5}, {5, 64, 96}, {70, 33, 130}, {3, 160, 64}} {
			n, in, out := sz[0], sz[1], sz[2]
			t.Run(fmt.Sprintf("%s/%s/%dx%dx%d", dt, c.kernel, n, in, out), func(t *testing.T) {
				x := randVec(r, n*in, 1)
				raw, w := encode(t, randVec(r, out*in, 0.5), dt)
				bias := randVec(r, out, 1)
				want := make([]float32, n*out)
				ops.MatMul(want, x, w, bias, n, in, out)

				W, err := d.UploadMatrix(raw, dt, out, in, "w")
				if err != nil {
					t.Fatal(err)
				}
				defer W.Release()
				X := upF32(t, d, x)
				B := upF32(t, d, bias)
				Y := zeros(t, d, n*out)
				run(t, d, func(p *Pass) { p.MatMul(Y, X, W, MM{N: n, K: in, Bias: B}) })
				got := readF32(t, d, Y, n*out)
				if e, at := maxRel(got, want, 1); e > 1e-5 {
					t.Fatalf("max rel error %.3g at %d: got %g want %g", e, at, got[at], want[at])
				}
			})
		}
	}
}

// TestMatMulSplit binds a weight in several chunks (a binding limit far
// below its size), reads a slice of the reduction and accumulates.
func TestMatMulSplit(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(3, 4))
	n, in, out := 9, 48, 100
	x := randVec(r, n*in, 1)
	raw, w := encode(t, randVec(r, out*in, 0.5), tensor.BF16)
	y0 := randVec(r, n*out, 1)
	// y = y0 + x[:, 16:40] w[:, 16:40]^T
	want := append([]float32(nil), y0...)
	for ti := 0; ti < n; ti++ {
		for j := 0; j < out; j++ {
			var s float32
			for k := 16; k < 40; k++ {
				s += x[ti*in+k] * w[j*in+k]
			}
			want[ti*out+j] += s
		}
	}
	saved := d.MaxBinding
	d.MaxBinding = uint64(2 * in * 14) // 14 rows of bf16 per chunk
	W, err := d.UploadMatrix(raw, tensor.BF16, out, in, "w")
	d.MaxBinding = saved
	if err != nil {
		t.Fatal(err)
	}
	defer W.Release()
	if len(W.Chunks) != 8 {
		t.Fatalf("%d chunks, want 8", len(W.Chunks))
	}
	X := upF32(t, d, x)
	Y := upF32(t, d, y0)
	run(t, d, func(p *Pass) {
		p.MatMul(Y, X, W, MM{N: n, K: 24, XStride: in, XOff: 16, WOff: 16, Accumulate: true})
	})
	got := readF32(t, d, Y, n*out)
	if e, at := maxRel(got, want, 1); e > 1e-5 {
		t.Fatalf("max rel error %.3g at %d: got %g want %g", e, at, got[at], want[at])
	}
}
