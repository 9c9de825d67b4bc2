package safetensors

import (
	"bytes"
	"fmt"
	"io"
	"sort"

	"github.com/cusprun/cusprun/core/tensor"
)

// The engine reads sharded checkpoints but writes one file; these write the
// sharded folders the reader's tests open, as transformers lays them out.

// shardName is the Hugging Face name of shard i (0-based) of n:
// model-00001-of-00003.safetensors.
func shardName(i, n int) string {
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

// planShards splits tensors, kept in order, into consecutive groups of at
// most maxBytes of tensor data each (a tensor larger than maxBytes gets a
// shard of its own). maxBytes <= 0 means one shard.
func planShards(tensors []tensor.Info, maxBytes int64) [][]tensor.Info {
	var out [][]tensor.Info
	var cur []tensor.Info
	var size int64
	for _, t := range tensors {
		n := t.Bytes()
		if maxBytes > 0 && len(cur) > 0 && size+n > maxBytes {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += n
	}
	if len(cur) > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// writeIndex writes model.safetensors.index.json: metadata.total_size (the
// sum of the tensors' data bytes) and weight_map (tensor name -> shard file
// name), keys sorted, as transformers writes it.
func writeIndex(w io.Writer, totalSize int64, weightMap map[string]string) error {
	names := make([]string, 0, len(weightMap))
	for k := range weightMap {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"metadata\": {\n    \"total_size\": %d\n  },\n  \"weight_map\": {", totalSize)
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		writeJSONString(&b, n)
		b.WriteString(": ")
		writeJSONString(&b, weightMap[n])
	}
	b.WriteString("\n  }\n}\n")
	_, err := w.Write(b.Bytes())
	return err
}
