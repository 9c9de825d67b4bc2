package gguf

import "math"

// Metadata accessors. Each returns ok=false when the key is absent or its
// value has an unsuitable type. Slices returned for arrays stored in exactly
// the asked-for type are the parsed data itself (no copy): do not modify them.

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return "", false
	}
	s, ok := kv.Value.(string)
	return s, ok
}

// Uint returns a value of any integer type that is not negative.
func (f *File) Uint(key string) (uint64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asUint(kv.Value)
}

// Int returns a value of any integer type that fits an int64.
func (f *File) Int(key string) (int64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asInt(kv.Value)
}

// Float returns a float32 or float64 value (an integer value is converted).
func (f *File) Float(key string) (float64, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asFloat(kv.Value)
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return false, false
	}
	b, ok := kv.Value.(bool)
	return b, ok
}

// Array returns an array value.
func (f *File) Array(key string) (Array, bool) {
	kv, ok := f.Get(key)
	if !ok {
		return Array{}, false
	}
	a, ok := kv.Value.(Array)
	return a, ok
}

// Strings returns an array of strings (tokenizer.ggml.tokens, merges).
func (f *File) Strings(key string) ([]string, bool) {
	a, ok := f.Array(key)
	if !ok {
		return nil, false
	}
	s, ok := a.Data.([]string)
	return s, ok
}

// Ints returns an array of any integer type as int64s; false if an element
// does not fit.
func (f *File) Ints(key string) ([]int64, bool) {
	a, ok := f.Array(key)
	if !ok {
		return nil, false
	}
	if d, ok := a.Data.([]int64); ok {
		return d, true
	}
	n := a.Len()
	out := make([]int64, n)
	for i := range n {
		v, ok := asInt(a.index(i))
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// Int32s returns an array of any integer type as int32s (tokenizer.ggml.token_type);
// false if an element does not fit.
func (f *File) Int32s(key string) ([]int32, bool) {
	a, ok := f.Array(key)
	if !ok {
		return nil, false
	}
	if d, ok := a.Data.([]int32); ok {
		return d, true
	}
	n := a.Len()
	out := make([]int32, n)
	for i := range n {
		v, ok := asInt(a.index(i))
		if !ok || v < math.MinInt32 || v > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(v)
	}
	return out, true
}

// Float32s returns a numeric array as float32s (tokenizer.ggml.scores).
func (f *File) Float32s(key string) ([]float32, bool) {
	a, ok := f.Array(key)
	if !ok {
		return nil, false
	}
	if d, ok := a.Data.([]float32); ok {
		return d, true
	}
	n := a.Len()
	out := make([]float32, n)
	for i := range n {
		v, ok := asFloat(a.index(i))
		if !ok {
			return nil, false
		}
		out[i] = float32(v)
	}
	return out, true
}

// Arch is general.architecture ("llama", "qwen2", "phi3", ...), or "".
func (f *File) Arch() string {
	s, _ := f.String("general.architecture")
	return s
}

// index returns element i of a (non-nested) array as a scalar.
func (a Array) index(i int) any {
	switch d := a.Data.(type) {
	case []uint8:
		return d[i]
	case []int8:
		return d[i]
	case []uint16:
		return d[i]
	case []int16:
		return d[i]
	case []uint32:
		return d[i]
	case []int32:
		return d[i]
	case []float32:
		return d[i]
	case []bool:
		return d[i]
	case []string:
		return d[i]
	case []uint64:
		return d[i]
	case []int64:
		return d[i]
	case []float64:
		return d[i]
	case []Array:
		return d[i]
	}
	return nil
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	i, ok := asInt(v)
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if i, ok := asInt(v); ok {
		return float64(i), true
	}
	if u, ok := asUint(v); ok {
		return float64(u), true
	}
	return 0, false
}
