//go:build !js && !wasip1

package compute

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/tensor"
)

// The quantized weight loaders compile with the simple matmul and the
// embedding kernel (TestKernels checks every shader file is used).
func init() {
	for _, dt := range tensor.QuantDTypes() {
		l := loader(dt)
		kernelSpecs = append(kernelSpecs,
			struct {
				files []string
				entry string
				kinds []Kind
			}{[]string{l, "matmul"}, "main", []Kind{Read, Read, Read, ReadWrite, Uniform}},
			struct {
				files []string
				entry string
				kinds []Kind
			}{[]string{l, "embed"}, "main", []Kind{Read, Read, ReadWrite, Uniform}})
	}
}

// quantBlocks returns rows*cols random values quantized to dtype dt (the
// file bytes) and their CPU dequantization.
func quantBlocks(t *testing.T, r *rand.Rand, dt tensor.DType, rows, cols int) ([]byte, []float32) {
	t.Helper()
	raw, err := tensor.Encode(nil, randVec(r, rows*cols, 0.5), dt)
	if err != nil {
		t.Fatal(err)
	}
	back := make([]float32, rows*cols)
	if err := tensor.Decode(back, raw, dt); err != nil {
		t.Fatal(err)
	}
	return raw, back
}

// TestQuantWeights uploads quantized blocks as bytes and checks the shader's
// dequantization: the embedding kernel copies values (equal to the CPU's
// dequantization up to float rounding of d*scale products), and the matmul
// agrees with ops.MatMul on the CPU-dequantized matrix.
func TestQuantWeights(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(9, 10))
	for _, dt := range tensor.QuantDTypes() {
		t.Run(dt.String(), func(t *testing.T) {
			rows, cols, n := 24, 512, 5
			raw, w := quantBlocks(t, r, dt, rows, cols)
			W, err := d.UploadMatrix(raw, dt, rows, cols, "w")
			if err != nil {
				t.Fatal(err)
			}
			defer W.Release()

			ids := []int{3, 0, 23, 3, 17}
			want := make([]float32, len(ids)*cols)
			ops.Embed(want, w, ids, cols)
			u := make([]uint32, len(ids))
			for i, id := range ids {
				u[i] = uint32(id)
			}
			Y := zeros(t, d, len(ids)*cols)
			run(t, d, func(p *Pass) { p.Embed(Y, upU32(t, d, u), W, len(ids)) })
			got := readF32(t, d, Y, len(ids)*cols)
			exact := 0
			for i := range got {
				if math.Float32bits(got[i]) == math.Float32bits(want[i]) {
					exact++
				}
			}
			t.Logf("embed: %d/%d values bit-equal to the CPU dequantization", exact, len(got))
			check(t, "embed "+dt.String(), got, want, 1e-6)

			x := randVec(r, n*cols, 1)
			bias := randVec(r, rows, 1)
			wantY := make([]float32, n*rows)
			ops.MatMul(wantY, x, w, bias, n, cols, rows)
			X, B, Y2 := upF32(t, d, x), upF32(t, d, bias), zeros(t, d, n*rows)
			run(t, d, func(p *Pass) { p.MatMul(Y2, X, W, MM{N: n, K: cols, Bias: B}) })
			check(t, fmt.Sprintf("matmul %s %dx%dx%d", dt, n, cols, rows), readF32(t, d, Y2, n*rows), wantY, 1e-5)
		})
	}
}
