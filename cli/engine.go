package cli

import (
	"flag"
	"fmt"

	"github.com/cusprun/cusprun/core/model"
)

func engineFlag(fs *flag.FlagSet) *string {
	return fs.String("engine", "cpu", "cpu, gpu (Vulkan) or wasm (the WASI build under wazero)")
}

// inWasm reports whether a verb should hand itself to the WASI build.
func inWasm(engine string) bool { return engine == "wasm" && WasmRunner != nil }

// backend returns the engine's Backend and a function that releases it.
func backend(name string) (model.Backend, func(), error) {
	if name == "cpu" {
		return model.CPU{}, func() {}, nil
	}
	if mk, ok := Backends[name]; ok {
		return mk()
	}
	if name == "wasm" {
		return nil, nil, fmt.Errorf("the wasm engine runs only from the native command")
	}
	return nil, nil, fmt.Errorf("unknown engine %q (cpu, gpu or wasm)", name)
}
