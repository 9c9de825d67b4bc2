package tokenizer

import "github.com/cusprun/cusprun/core/gguf"

// GGUFMeta is what the tokenizer needs from a GGUF file's metadata; a parsed
// *gguf.File is one.
type GGUFMeta interface {
	// String is a string value.
	String(key string) (string, bool)
	// Strings is an array of strings.
	Strings(key string) ([]string, bool)
	// Float32s is an array of numbers, as float32.
	Float32s(key string) ([]float32, bool)
	// Int32s is an array of integers, as int32.
	Int32s(key string) ([]int32, bool)
	// Int is an integer scalar of any width.
	Int(key string) (int64, bool)
	// Bool is a boolean scalar.
	Bool(key string) (bool, bool)
}

var _ GGUFMeta = (*gguf.File)(nil)
