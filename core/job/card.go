package job

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cusprun/cusprun/core/export"
)

// Version is the tool's release, written into every model card and report.
const Version = "0.4.0"

// isReadme tells the source's model card: it describes the source (its
// widths, its parameter count), not the expert, so it is never copied.
func isReadme(name string) bool { return strings.EqualFold(name, "README.md") }

// expertName is a GGUF expert's general.name, the one line a GGUF has to
// say what it is (llama.cpp, ollama and LM Studio show it): the source's
// name, the target's values and the ratio, "Qwen2.5-0.5B de+law expert
// (cusprun 0.3)".
func expertName(o Options, ratio float64) string {
	src := o.SourceName
	if ext := filepath.Ext(src); strings.EqualFold(ext, ".gguf") || strings.EqualFold(ext, ".zip") {
		src = strings.TrimSuffix(src, ext) // a folder's dots stay (Qwen2.5-0.5B)
	}
	var parts []string
	if src != "" {
		parts = append(parts, src)
	}
	var target []string
	for _, v := range []string{o.Language, o.Domain, o.Task} {
		if v != "" && v != "any" {
			target = append(target, strings.ReplaceAll(v, ",", "+"))
		}
	}
	if len(target) > 0 {
		parts = append(parts, strings.Join(target, "+"))
	}
	parts = append(parts, fmt.Sprintf("expert (cusprun %.3g)", ratio))
	return strings.Join(parts, " ")
}

// card is the expert's model card (README.md): where it came from, what it
// is for, how it was pruned, its widths and, once measured, its perplexity
// before and after.
func card(r *Result, o Options) export.File {
	var b strings.Builder
	src := o.SourceName
	if src == "" {
		src = "a " + r.Family + " model"
	}
	target := []string{}
	for _, dim := range []string{"language", "domain", "task"} {
		if v := r.Target[dim]; v != "" {
			target = append(target, dim+" "+v)
		}
	}
	if len(target) == 0 {
		target = append(target, "general use (no language, domain or task chosen)")
	}
	fmt.Fprintf(&b, "---\ntags:\n- cusprun\n- pruned\n---\n\n")
	fmt.Fprintf(&b, "# Expert pruned from %s\n\n", src)
	fmt.Fprintf(&b, "This model was made by [cusprun](https://github.com/cusprun/cusprun) %s from %s (%s family) without any training: ", Version, src, r.Family)
	fmt.Fprintf(&b, "FFN neurons and attention groups that matter least for the target were removed.")
	if o.Compensate {
		fmt.Fprintf(&b, " The weights through which the kept units write into the residual stream (down_proj and o_proj) were then refitted by least squares on the calibration text, so that they reproduce what all units wrote as closely as a linear map can.")
		if p := o.RefitPool(); p > 1 {
			fmt.Fprintf(&b, " Within each layer, the FFN neurons removed were chosen among the %.3g × as many that the ranking put lowest, as those whose loss the refit of the others repairs best.", p)
		}
	}
	fmt.Fprintf(&b, "\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Target | %s |\n", strings.Join(target, ", "))
	refit := ""
	if o.Compensate {
		refit = ", least-squares compensation"
		if p := o.RefitPool(); p > 1 {
			refit += fmt.Sprintf(" (removed neurons rechosen among %.3g × as many)", p)
		}
	}
	fmt.Fprintf(&b, "| Method | %s, %s placement%s |\n", r.Method, r.Placement, refit)
	fmt.Fprintf(&b, "| Ratio | %.3g asked, %.4f of the decoder's attention+FFN parameters removed |\n", r.Ratio, r.RatioActual)
	fmt.Fprintf(&b, "| Parameters | %s before, %s after |\n", paramCount(r.ParamsBefore), paramCount(r.ParamsAfter))
	if c := r.Calibration; c != nil {
		fmt.Fprintf(&b, "| Calibration | %d documents, %d tokens |\n", c["docs"], c["tokens"])
	}
	if r.Vocab != nil {
		fmt.Fprintf(&b, "| Vocabulary | %d rows before, %d after |\n", r.Vocab["before"], r.Vocab["after"])
	}
	fmt.Fprintf(&b, "\n## Widths per layer\n\n| layer | FFN | query heads | KV heads |\n|---|---|---|---|\n")
	for l := range r.Kept.FFN {
		fmt.Fprintf(&b, "| %d | %d → %d | %d → %d | %d → %d |\n", l, r.From.FFN[l], r.Kept.FFN[l],
			r.From.Heads[l], r.Kept.Heads[l], r.From.KV[l], r.Kept.KV[l])
	}
	fmt.Fprintf(&b, "\n## Perplexity on held-out text\n\n")
	if len(r.Eval) == 0 {
		fmt.Fprintf(&b, "Not measured when this card was written (the report beside the expert, or the page that made it, has the figures when they were measured).\n")
	} else {
		fmt.Fprintf(&b, "| slice | documents | tokens | before | after | retention |\n|---|---|---|---|---|---|\n")
		names := make([]string, 0, len(r.Eval))
		for n := range r.Eval {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			e := r.Eval[n]
			fmt.Fprintf(&b, "| %s | %d | %d | %.4g | %.4g | %.3f |\n", n, e.Docs, e.Tokens, e.PPLBefore, e.PPLAfter, e.Retention)
		}
		fmt.Fprintf(&b, "\nRetention is perplexity before divided by perplexity after (1 keeps everything).\n")
	}
	fmt.Fprintf(&b, "\nThe license and usage terms of %s apply to this model.\n", src)
	return export.File{Name: "README.md", Data: []byte(b.String())}
}

// paramCount prints a parameter count as 494.0M or 1.54B.
func paramCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
