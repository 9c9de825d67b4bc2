//go:build wasip1

// Command wasi is the cusprun CLI built for GOOS=wasip1, so that the native
// command can run the very same core inside wazero (--engine wasm): the
// headless proof that the WebAssembly build computes what the native one does.
package main

import (
	"os"

	"github.com/cusprun/cusprun/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
