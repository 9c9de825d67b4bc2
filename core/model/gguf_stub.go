package model

import (
	"fmt"

	"github.com/cusprun/cusprun/core/source"
)

func openGGUF(f source.Folder, name string) (*Model, error) {
	return nil, fmt.Errorf("%s: GGUF reading is not wired yet", name)
}
