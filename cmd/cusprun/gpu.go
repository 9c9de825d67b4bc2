package main

import (
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/gpu"
)

// gpuBackend opens the GPU engine: Vulkan natively (any Vulkan driver,
// including Mesa's lavapipe on a CPU).
func gpuBackend() (model.Backend, func(), error) {
	b, err := gpu.New()
	if err != nil {
		return nil, nil, err
	}
	return b, b.Close, nil
}
