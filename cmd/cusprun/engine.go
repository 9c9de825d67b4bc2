package main

import (
	"flag"
	"fmt"

	"github.com/cusprun/cusprun/core/model"
)

func engineFlag(fs *flag.FlagSet) *string {
	return fs.String("engine", "cpu", "cpu, gpu (Vulkan) or wasm (the WASI build under wazero)")
}

// backend returns the engine's Backend and a function that releases it.
func backend(name string) (model.Backend, func(), error) {
	switch name {
	case "cpu":
		return model.CPU{}, func() {}, nil
	case "gpu":
		return gpuBackend()
	}
	return nil, nil, fmt.Errorf("unknown engine %q (cpu, gpu or wasm)", name)
}
