package synth

import (
	"fmt"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

func WriteGGUF(out string, c *model.Config, seed uint64, d tensor.DType) error {
	return fmt.Errorf("gguf output is not wired yet")
}
