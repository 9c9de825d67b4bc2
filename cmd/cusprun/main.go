// Command cusprun prunes a small general LLM into a smaller expert model.
// The verbs live in package cli; this file adds what only a native build
// has: the gpu engine, the wasm engine (the WASI build under wazero), serve.
package main

import (
	"os"

	"github.com/cusprun/cusprun/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
