//go:build wasip1

package gpu

import (
	"errors"

	"github.com/cusprun/cusprun/core/model"
)

// ErrNoAdapter is returned when no GPU adapter is available.
var ErrNoAdapter = errors.New("gpu: no GPU under WASI")

// Backend is not available under WASI.
type Backend struct{ model.CPU }

// New always fails under WASI: there is no GPU to reach.
func New() (*Backend, error) { return nil, ErrNoAdapter }

// Close does nothing.
func (*Backend) Close() {}

// HeadMatMul is never reached: New fails under WASI.
func (*Backend) HeadMatMul(model.State, *model.Weight, []float32) ([]float32, error) {
	return nil, ErrNoAdapter
}
