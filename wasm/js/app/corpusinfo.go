package app

import "github.com/cusprun/cusprun/core/corpus"

// CorpusSummary is what the page read from one of the user's calibration
// files, shown as soon as the files are chosen: how many documents, and
// how many carry each tag (by its canonical value; "" counts the untagged,
// which count for the target's value). Error, when set, is why the file
// cannot be read, the one line a prune would stop with.
type CorpusSummary struct {
	Name  string                    `json:"name"`
	Docs  int                       `json:"docs"`
	Tags  map[string]map[string]int `json:"tags,omitempty"`
	Error string                    `json:"error,omitempty"`
}

// CorpusInfo reads each file as a prune would (corpus.Read) and sums it
// up.
func CorpusInfo(files []UserCorpus) []CorpusSummary {
	out := make([]CorpusSummary, len(files))
	for i, f := range files {
		out[i].Name = f.Name
		docs, err := f.Read()
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Docs = len(docs)
		out[i].Tags = map[string]map[string]int{}
		for _, dim := range corpus.Dims {
			n := map[string]int{}
			for _, d := range docs {
				n[corpus.Canonical(d.Tag(dim))]++
			}
			out[i].Tags[dim] = n
		}
	}
	return out
}
