//go:build !js && !wasip1

package gpu

import (
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/cusprun/cusprun/gpu/internal/compute"
)

var (
	devOnce sync.Once
	devErr  error
	dev     *compute.Device
)

// device opens the shared test device, or skips the test when there is no
// Vulkan adapter, unless CUSPRUN_REQUIRE_GPU=1 (CI, with lavapipe), which
// makes a missing adapter a failure.
func device(t testing.TB) *compute.Device {
	t.Helper()
	devOnce.Do(func() { dev, devErr = compute.Open() })
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

// newOn is a backend on an open device, which the caller closes (the tests
// share one).
func newOn(d *compute.Device) *Backend { return &Backend{d: d} }
