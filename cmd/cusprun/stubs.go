package main

import (
	"fmt"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/core/model"
)

func init() {
	cli.Backends["gpu"] = gpuBackend
}

func gpuBackend() (model.Backend, func(), error) {
	return nil, nil, fmt.Errorf("the gpu engine is not built yet")
}
