package main

import (
	"github.com/cusprun/cusprun/cli"
)

func init() {
	cli.Backends["gpu"] = gpuBackend
}
