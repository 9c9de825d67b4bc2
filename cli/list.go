package cli

import (
	"sort"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/synth"
)

func init() {
	Register("list", "what prune can target and write: built-in languages, domains, tasks, families, shapes, methods, formats, tensor types", runList)
}

func runList(args []string) (any, error) {
	fs := newFlags("list")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	out := map[string]any{
		"families":   synth.Families,
		"shapes":     synth.ShapeNames(),
		"methods":    prune.Methods,
		"formats":    job.Formats,
		"quants":     prune.Quants,
		"placements": job.Placements,
		"vocab":      prune.VocabChoices,
		"max_ratio":  job.MaxRatio,
	}
	for _, split := range []string{"calib", "heldout"} {
		docs, err := corpus.Builtin(split)
		if err != nil {
			return nil, err
		}
		counts := map[string]map[string]int{}
		for _, dim := range corpus.Dims {
			counts[dim] = map[string]int{}
			for _, d := range docs {
				if t := d.Tag(dim); t != "" {
					counts[dim][t]++
				}
			}
		}
		out[split] = counts
	}
	// The targets a user picks from: the calibration corpora's values.
	cal := out["calib"].(map[string]map[string]int)
	for _, dim := range corpus.Dims {
		var vals []string
		for v := range cal[dim] {
			vals = append(vals, v)
		}
		sort.Strings(vals)
		out[dim+"s"] = vals
	}
	return out, nil
}
