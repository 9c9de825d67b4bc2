package model_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
)

// v5Form rewrites a config.json the way transformers 5 saves it: rope_theta,
// rope_scaling's fields and partial_rotary_factor move into one
// rope_parameters object, and the top-level keys go.
func v5Form(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	p := map[string]any{"rope_type": "default"}
	if s, ok := m["rope_scaling"].(map[string]any); ok {
		for k, v := range s {
			p[k] = v
		}
		if ty, ok := p["type"]; ok {
			p["rope_type"] = ty
			delete(p, "type")
		}
	}
	for _, k := range []string{"rope_theta", "partial_rotary_factor"} {
		if v, ok := m[k]; ok {
			p[k] = v
		}
		delete(m, k)
	}
	delete(m, "rope_scaling")
	m["rope_parameters"] = p
	return m
}

// TestRopeParameters: a config in transformers 5's form (rope_parameters)
// parses to the same Config as the older form it was made from, for every
// family and rope scaling synth makes; a θ of its own is not dropped (an
// older reader would run with 10000), and the forms this engine cannot
// hold, or that contradict each other, are refused in one line.
func TestRopeParameters(t *testing.T) {
	type variant struct {
		family, rope string
		partial      float64
	}
	vs := []variant{{"llama", "", 0}, {"llama", "linear", 0}, {"llama", "llama3", 0}, {"qwen2", "", 0},
		{"qwen3", "", 0}, {"phi3", "", 0}, {"phi3", "longrope", 0}, {"phi", "", 0}, {"phi", "", 0.5}, {"phi3", "", 0.75}}
	for _, v := range vs {
		c, err := synth.Config(synth.Options{Family: v.family, Shape: "tiny", Rope: v.rope, Partial: v.partial})
		if err != nil {
			t.Fatal(err)
		}
		c.Rope.Theta = 123456 // not a default any reader could fall back on
		old, err := model.HFConfigJSON(c, "bfloat16")
		if err != nil {
			t.Fatal(err)
		}
		want, err := model.ParseHFConfig(old)
		if err != nil {
			t.Fatal(err)
		}
		if want.Rope.Theta != 123456 {
			t.Fatalf("%v: the older form reads θ %v", v, want.Rope.Theta)
		}
		nb, _ := json.Marshal(v5Form(t, old))
		got, err := model.ParseHFConfig(nb)
		if err != nil {
			t.Fatalf("%v: %v\n%s", v, err, nb)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%v: rope_parameters gives\n%+v\nthe older form\n%+v", v, got.Rope, want.Rope)
		}
		// Both forms at once, saying the same, are read the same.
		var both map[string]any
		json.Unmarshal(old, &both)
		both["rope_parameters"] = v5Form(t, old)["rope_parameters"]
		bb, _ := json.Marshal(both)
		if got, err := model.ParseHFConfig(bb); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%v: both forms: %v", v, err)
		}
	}

	c, _ := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	old, _ := model.HFConfigJSON(c, "bfloat16")
	bad := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"per layer type", func(m map[string]any) {
			m["rope_parameters"] = map[string]any{"full_attention": map[string]any{"rope_theta": 1e6}, "sliding_attention": map[string]any{"rope_theta": 1e4}}
		}, "rope_parameters per layer type"},
		{"no theta", func(m map[string]any) { m["rope_parameters"] = map[string]any{"rope_type": "default"} }, "has no rope_theta"},
		{"theta disagrees", func(m map[string]any) {
			m["rope_theta"] = 500000.0
			m["rope_parameters"] = map[string]any{"rope_theta": 1e6, "rope_type": "default"}
		}, "rope_theta is 500000 but rope_parameters says 1e+06"},
		{"scaling disagrees", func(m map[string]any) {
			m["rope_scaling"] = map[string]any{"type": "linear", "factor": 2.0}
			m["rope_parameters"] = map[string]any{"rope_theta": 1e4, "rope_type": "linear", "factor": 4.0}
		}, "rope_scaling and rope_parameters disagree"},
		{"unsupported type", func(m map[string]any) {
			m["rope_parameters"] = map[string]any{"rope_theta": 1e4, "rope_type": "yarn", "factor": 4.0}
		}, `rope_scaling type "yarn" is not supported`},
		{"not an object", func(m map[string]any) { m["rope_parameters"] = 7 }, "rope_parameters:"},
	}
	for _, b := range bad {
		m := v5Form(t, old)
		b.edit(m)
		nb, _ := json.Marshal(m)
		_, err := model.ParseHFConfig(nb)
		if err == nil || !strings.Contains(err.Error(), b.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v; want one line containing %q", b.name, err, b.want)
		}
	}
}
