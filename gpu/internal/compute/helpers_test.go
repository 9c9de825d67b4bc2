//go:build !js && !wasip1

package compute

import (
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
)

var (
	devOnce sync.Once
	devErr  error
	dev     *Device
)

// device opens the shared test device, or skips the test when there is no
// Vulkan adapter, unless CUSPRUN_REQUIRE_GPU=1 (CI, with lavapipe), which
// makes a missing adapter a failure.
func device(t testing.TB) *Device {
	t.Helper()
	devOnce.Do(func() { dev, devErr = Open() })
	if devErr != nil {
		if os.Getenv("CUSPRUN_REQUIRE_GPU") == "1" {
			t.Fatalf("CUSPRUN_REQUIRE_GPU=1 but no GPU: %v", devErr)
		}
		t.Skipf("no Vulkan adapter (install mesa-vulkan-drivers for lavapipe, or set CUSPRUN_REQUIRE_GPU=1 to fail): %v", devErr)
	}
	return dev
}

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (r.Float32()*2 - 1) * scale
	}
	return v
}

// maxRel is max|a-b| / max(max|b|, floor): the error relative to the
// reference's scale.
func maxRel(a, b []float32, floor float64) (float64, int) {
	scale := floor
	for _, v := range b {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	worst, at := 0.0, -1
	for i := range b {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(float64(a[i])) {
			d = math.Inf(1)
		}
		if d > worst || at < 0 {
			worst, at = d, i
		}
	}
	return worst / scale, at
}

func upF32(t testing.TB, d *Device, v []float32) *Tensor {
	t.Helper()
	tn, err := d.UploadF32(v)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Release)
	return tn
}

func upU32(t testing.TB, d *Device, v []uint32) *Tensor {
	t.Helper()
	tn, err := d.UploadU32(v)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Release)
	return tn
}

func zeros(t testing.TB, d *Device, n int) *Tensor {
	t.Helper()
	tn, err := d.Zeros(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Release)
	return tn
}

func run(t testing.TB, d *Device, rec func(p *Pass)) {
	t.Helper()
	p, err := d.NewPass()
	if err != nil {
		t.Fatal(err)
	}
	rec(p)
	if err := p.Submit(); err != nil {
		t.Fatal(err)
	}
}

func readF32(t testing.TB, d *Device, tn *Tensor, n int) []float32 {
	t.Helper()
	v, err := d.ReadF32(tn, n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func flat32(x [][]float32) []float32 {
	var o []float32
	for _, r := range x {
		o = append(o, r...)
	}
	return o
}

func to32(x []float64) []float32 {
	o := make([]float32, len(x))
	for i, v := range x {
		o[i] = float32(v)
	}
	return o
}
