package cli

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/cusprun/cusprun/core/model"
)

func init() {
	Register("logits", "print the logits after the last of the given token ids", runLogits)
}

// parseIDs reads token ids separated by commas or spaces, optionally in
// brackets: "1,2,3", "1 2 3", or "[1, 2, 3]" as tokenize prints them.
func parseIDs(flag, s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	var ids []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a token id", flag, f)
		}
		ids = append(ids, n)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: give at least one token id", flag)
	}
	return ids, nil
}

func runLogits(args []string) (any, error) {
	fs := newFlags("logits")
	path := fs.String("model", "", "model folder or .gguf file")
	idsFlag := fs.String("ids", "", "token ids: 1,2,3 (or 1 2 3, or [1,2,3] as tokenize prints them)")
	all := fs.Bool("all", false, "print the logits at every position ([positions][vocab])")
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" {
		return nil, fmt.Errorf("--model is required")
	}
	ids, err := parseIDs("--ids", *idsFlag)
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
