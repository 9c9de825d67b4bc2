package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cusprun/cusprun/core/model"
)

func init() {
	Register("logits", "print the logits after the last of the given token ids", runLogits)
}

// parseIDs reads "1,2,3".
func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--ids: %q is not a token id", f)
		}
		ids = append(ids, n)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--ids: give at least one token id")
	}
	return ids, nil
}

func runLogits(args []string) (any, error) {
	fs := newFlags("logits")
	path := fs.String("model", "", "model folder or .gguf file")
	idsFlag := fs.String("ids", "", "comma-separated token ids")
	all := fs.Bool("all", false, "print the logits at every position ([positions][vocab])")
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" {
		return nil, fmt.Errorf("--model is required")
	}
	ids, err := parseIDs(*idsFlag)
	if err != nil {
		return nil, err
	}
	if inWasm(*eng) {
		return WasmRunner("logits", args)
	}
	m, err := model.OpenPath(*path)
	if err != nil {
		return nil, err
	}
	be, closeBe, err := backend(*eng)
	if err != nil {
		return nil, err
	}
	defer closeBe()
	if *all {
		l, err := m.AllLogits(be, ids)
		if err != nil {
			return nil, err
		}
		V := m.Config.Vocab
		rows := make([][]float32, len(ids))
		for i := range rows {
			rows[i] = l[i*V : (i+1)*V]
		}
		return map[string]any{"logits": rows}, nil
	}
	l, err := m.LastLogits(be, ids)
	if err != nil {
		return nil, err
	}
	return map[string]any{"logits": l}, nil
}
