package gguf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/source"
)

// TestLlamaCppVocabs parses the vocabulary-only GGUF files shipped with
// llama.cpp's sources (models/ggml-vocab-*.gguf), when CUSPRUN_LLAMACPP_SRC
// points at a llama.cpp checkout, and checks that writing them back with
// Writer gives the same bytes.
func TestLlamaCppVocabs(t *testing.T) {
	dir := os.Getenv("CUSPRUN_LLAMACPP_SRC")
	if dir == "" {
		t.Skip("CUSPRUN_LLAMACPP_SRC is not set (a llama.cpp source checkout, e.g. cloned from node-llama-cpp's gitRelease.bundle)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "models", "ggml-vocab-*.gguf"))
	if len(files) == 0 {
		t.Fatalf("no models/ggml-vocab-*.gguf under %s", dir)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := source.OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			f, err := Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			if f.Arch() == "" {
				t.Error("no general.architecture")
			}
			toks, ok := f.Strings("tokenizer.ggml.tokens")
			if !ok || len(toks) == 0 {
				t.Fatal("no tokenizer.ggml.tokens")
			}
			if sc, ok := f.Float32s("tokenizer.ggml.scores"); ok && len(sc) != len(toks) {
				t.Errorf("%d scores for %d tokens", len(sc), len(toks))
			}
			if ty, ok := f.Int32s("tokenizer.ggml.token_type"); ok && len(ty) != len(toks) {
				t.Errorf("%d token types for %d tokens", len(ty), len(toks))
			}
			if m, ok := f.String("tokenizer.ggml.model"); !ok || m == "" {
				t.Error("no tokenizer.ggml.model")
			}
			t.Logf("%s: arch %s, %d tokens, %d keys, %d tensors", filepath.Base(path), f.Arch(), len(toks), len(f.KVs), len(f.Tensors))

			var out bytes.Buffer
			w := NewWriter(&out)
			w.SetVersion(f.Version)
			for _, kv := range f.KVs {
				if err := w.SetKV(kv); err != nil {
					t.Fatal(err)
				}
			}
			for _, tt := range f.Tensors {
				if err := w.AddTensorType(tt.Name, tt.Shape, tt.Type); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			for _, tt := range f.Tensors {
				b := make([]byte, tt.Size)
				if _, err := src.ReadAt(b, tt.Offset); err != nil {
					t.Fatal(err)
				}
				if err := w.WriteTensor(tt.Name, b); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			orig, _ := os.ReadFile(path)
			if !bytes.Equal(out.Bytes(), orig) {
				n := 0
				for n < min(out.Len(), len(orig)) && out.Bytes()[n] == orig[n] {
					n++
				}
				t.Errorf("rewritten file differs from byte %d (sizes %d and %d)", n, out.Len(), len(orig))
			}
		})
	}
}
