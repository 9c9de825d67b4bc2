//go:build !wasip1

package gpu

import (
	"fmt"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/gpu/internal/compute"
	"github.com/cusprun/cusprun/shaders"
)

// uploadWeight copies a weight's file bytes to the device.
func uploadWeight(d *compute.Device, w *model.Weight) (*compute.Weight, error) {
	dt, raw := w.DType, w.Raw
	switch {
	case dt == tensor.F32, dt == tensor.F16, dt == tensor.BF16:
	case shaders.WeightLoader(dt.String()) != "":
		// Quantized blocks go up as bytes; the shader's wload dequantizes.
	case dt.Quantized():
		// A quantized dtype without a loader: decoded on the host, one
		// weight at a time, freed with the layer.
		dt, raw = tensor.F32, compute.F32Bytes(w.F32())
	default:
		return nil, fmt.Errorf("gpu: %s: dtype %s is not supported", w.Name, w.DType)
	}
	return d.UploadMatrix(raw, dt, w.Rows, w.Cols, w.Name)
}
