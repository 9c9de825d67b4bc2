package main

import (
	"fmt"
	"strings"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/gpu"
)

// gpuBackend opens the GPU engine: Vulkan natively (any Vulkan driver,
// including Mesa's lavapipe on a CPU). When no adapter or device can be had
// it says so in one line on stderr and runs the CPU engine instead; a
// device lost or out of memory later stops the job with one clear line (the
// backend's calls return errors, with a bounded wait, never a hang).
func gpuBackend() (model.Backend, func(), error) {
	b, err := gpu.New()
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(cli.Stderr, "cusprun: warning: no GPU (%s); running the cpu engine\n", msg)
		return model.CPU{}, func() {}, nil
	}
	return hinted{b}, b.Close, nil
}

// hinted is the GPU backend with errors that tell the user what to do.
type hinted struct{ *gpu.Backend }

func hint(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (the GPU engine failed; --engine cpu runs the same job on the CPU)", err)
}

func (h hinted) Start(c *model.Config, x []float32, docs []ops.Span) (model.State, error) {
	s, err := h.Backend.Start(c, x, docs)
	return s, hint(err)
}

func (h hinted) Layer(s model.State, L *model.Layer, st *model.Stats) error {
	return hint(h.Backend.Layer(s, L, st))
}

func (h hinted) Final(s model.State, hd *model.Head, rows []int) ([]float32, error) {
	y, err := h.Backend.Final(s, hd, rows)
	return y, hint(err)
}

func (h hinted) HeadMatMul(s model.State, w *model.Weight, bias []float32) ([]float32, error) {
	y, err := h.Backend.HeadMatMul(s, w, bias)
	return y, hint(err)
}

var _ model.HeadBackend = hinted{}
