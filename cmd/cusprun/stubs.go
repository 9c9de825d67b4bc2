package main

import (
	"fmt"

	"github.com/cusprun/cusprun/core/model"
)

func gpuBackend() (model.Backend, func(), error) {
	return nil, nil, fmt.Errorf("the gpu engine is not built yet")
}

func runWasm(args []string) (any, error) { return nil, fmt.Errorf("the wasm engine is not built yet") }
