package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// object is a JSON object with its keys in file order.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func parseObject(data []byte) (*object, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	o := &object{vals: map[string]json.RawMessage{}}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = v
	}
	return o, nil
}

func (o *object) set(k string, v json.RawMessage) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, x := range o.keys {
		if x == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

// marshal writes the object, indented, keys in order.
func (o *object) marshal(indent bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if indent {
			b.WriteString("\n  ")
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		if indent {
			b.WriteByte(' ')
			var ib bytes.Buffer
			if json.Indent(&ib, o.vals[k], "  ", "  ") == nil {
				b.Write(ib.Bytes())
				continue
			}
		}
		b.Write(o.vals[k])
	}
	if indent {
		b.WriteByte('\n')
	}
	b.WriteByte('}')
	return b.Bytes()
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// restrictTokenizerJSON rewrites a tokenizer.json for the kept ids: the
// vocabulary renumbered (in id order), merges whose parts or result are gone
// dropped, added tokens and post-processor ids renumbered.
func restrictTokenizerJSON(data []byte, m *IDMap, contPrefix string) ([]byte, error) {
	f, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	model, err := parseObject(f.vals["model"])
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json model: %w", err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(model.vals["vocab"], &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer.json vocab: %w", err)
	}
	byNew := make([]string, len(m.Keep))
	has := make([]bool, len(m.Keep))
	kept := map[string]bool{}
	for tok, id := range vocab {
		if n := m.Map(id); n >= 0 {
			byNew[n], has[n] = tok, true
			kept[tok] = true
		}
	}
	var vb bytes.Buffer
	vb.WriteByte('{')
	first := true
	for n, tok := range byNew {
		if !has[n] {
			continue
		}
		if !first {
			vb.WriteByte(',')
		}
		first = false
		vb.Write(jsonString(tok))
		vb.WriteByte(':')
		vb.WriteString(strconv.Itoa(n))
	}
	vb.WriteByte('}')
	model.set("vocab", vb.Bytes())

	if raw, ok := model.vals["merges"]; ok && !isNull(raw) {
		keepMerge := func(a, b string) bool {
			merged := a + b
			if contPrefix != "" {
				merged = a + strings.TrimPrefix(b, contPrefix)
			}
			return kept[a] && kept[b] && kept[merged]
		}
		var strs []string
		var pairs [][2]string
		if json.Unmarshal(raw, &strs) == nil {
			out := make([]string, 0, len(strs))
			for _, s := range strs {
				a, b, _ := strings.Cut(s, " ")
				if keepMerge(a, b) {
					out = append(out, s)
				}
			}
			model.set("merges", marshal(out))
		} else if json.Unmarshal(raw, &pairs) == nil {
			out := make([][2]string, 0, len(pairs))
			for _, p := range pairs {
				if keepMerge(p[0], p[1]) {
					out = append(out, p)
				}
			}
			model.set("merges", marshal(out))
		} else {
			return nil, fmt.Errorf("tokenizer.json: model.merges is neither strings nor pairs")
		}
	}
	f.set("model", model.marshal(false))

	if raw, ok := f.vals["added_tokens"]; ok && !isNull(raw) {
		var added []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &added); err != nil {
			return nil, fmt.Errorf("tokenizer.json added_tokens: %w", err)
		}
		var out []json.RawMessage
		for _, a := range added {
			var id int
			if err := json.Unmarshal(a["id"], &id); err != nil {
				return nil, fmt.Errorf("tokenizer.json added_tokens: %w", err)
			}
			n := m.Map(id)
			if n < 0 {
				continue
			}
			// keep the usual key order
			o := &object{vals: map[string]json.RawMessage{}}
			o.set("id", json.RawMessage(strconv.Itoa(n)))
			for _, k := range []string{"content", "single_word", "lstrip", "rstrip", "normalized", "special"} {
				if v, ok := a[k]; ok {
					o.set(k, v)
				}
			}
			for _, k := range sortedKeys(a) {
				if _, ok := o.vals[k]; !ok {
					o.set(k, a[k])
				}
			}
			out = append(out, o.marshal(false))
		}
		if out == nil {
			out = []json.RawMessage{}
		}
		f.set("added_tokens", marshal(out))
	}
	if raw, ok := f.vals["post_processor"]; ok && !isNull(raw) {
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("tokenizer.json post_processor: %w", err)
		}
		if err := remapProcessor(v, m); err != nil {
			return nil, err
		}
		f.set("post_processor", marshal(v))
	}
	return f.marshal(true), nil
}

// remapProcessor renumbers the ids in a post-processor: TemplateProcessing's
// special_tokens[...].ids, Roberta/Bert's sep and cls pairs, in sequences too.
func remapProcessor(v any, m *IDMap) error {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch k {
			case "ids":
				if arr, ok := val.([]any); ok {
					for i, e := range arr {
						n, err := remapNumber(e, m)
						if err != nil {
							return err
						}
						arr[i] = n
					}
					continue
				}
			case "sep", "cls":
				if arr, ok := val.([]any); ok && len(arr) == 2 {
					n, err := remapNumber(arr[1], m)
					if err != nil {
						return err
					}
					arr[1] = n
					continue
				}
			}
			if err := remapProcessor(val, m); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := remapProcessor(e, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func remapNumber(e any, m *IDMap) (any, error) {
	num, ok := e.(json.Number)
	if !ok {
		return e, nil
	}
	id, err := strconv.Atoi(string(num))
	if err != nil {
		return e, nil
	}
	n := m.Map(id)
	if n < 0 {
		return nil, fmt.Errorf("restrict: the post-processor uses token %d, which is not kept", id)
	}
	return json.Number(strconv.Itoa(n)), nil
}

// restrictTokenizerConfig renumbers tokenizer_config.json's
// added_tokens_decoder (dropping removed tokens).
func restrictTokenizerConfig(data []byte, m *IDMap) ([]byte, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	if raw, ok := o.vals["added_tokens_decoder"]; ok && !isNull(raw) {
		dec, err := parseObject(raw)
		if err != nil {
			return nil, fmt.Errorf("tokenizer_config.json added_tokens_decoder: %w", err)
		}
		type ent struct {
			id int
			v  json.RawMessage
		}
		var es []ent
		for _, k := range dec.keys {
			id, err := strconv.Atoi(k)
			if err != nil {
				return nil, fmt.Errorf("tokenizer_config.json added_tokens_decoder: key %q is not an id", k)
			}
			if n := m.Map(id); n >= 0 {
				es = append(es, ent{n, dec.vals[k]})
			}
		}
		nd := &object{vals: map[string]json.RawMessage{}}
		for _, e := range es {
			nd.set(strconv.Itoa(e.id), e.v)
		}
		o.set("added_tokens_decoder", nd.marshal(false))
	}
	return o.marshal(true), nil
}

// idKeys are the keys of config.json and generation_config.json that hold
// token ids.
var idKeys = []string{"bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "sep_token_id", "unk_token_id"}

// RemapConfigIDs renumbers the token ids of a config.json or
// generation_config.json (bos/eos/pad/... _token_id, a number or a list);
// an id that was removed is an error, except a pad id, which is dropped.
func (m *IDMap) RemapConfigIDs(data []byte) ([]byte, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	for _, k := range idKeys {
		raw, ok := o.vals[k]
		if !ok || isNull(raw) {
			continue
		}
		var one int
		var list []int
		switch {
		case json.Unmarshal(raw, &one) == nil:
			if one < 0 {
				continue // "none"
			}
			n := m.Map(one)
			if n < 0 {
				if k == "pad_token_id" {
					o.del(k)
					continue
				}
				return nil, fmt.Errorf("%s %d is not in the kept vocabulary", k, one)
			}
			o.set(k, json.RawMessage(strconv.Itoa(n)))
		case json.Unmarshal(raw, &list) == nil:
			var out []int
			for _, id := range list {
				if id < 0 {
					out = append(out, id)
				} else if n := m.Map(id); n >= 0 {
					out = append(out, n)
				} else {
					return nil, fmt.Errorf("%s %d is not in the kept vocabulary", k, id)
				}
			}
			o.set(k, marshal(out))
		}
	}
	return o.marshal(true), nil
}

// RewriteFile rewrites one small file of a model folder for the restricted
// vocabulary: tokenizer.json and tokenizer_config.json (as Files holds
// them), config.json and generation_config.json (token ids), vocab.json,
// merges.txt and added_tokens.json (a slow tokenizer's files). keep is false
// for files that would disagree with the new ids and cannot be rewritten
// (a SentencePiece tokenizer.model): leave them out.
func (r *Restricted) RewriteFile(name string, data []byte) (out []byte, keep bool, err error) {
	if b, ok := r.Files[name]; ok {
		return b, true, nil
	}
	if (name == "tokenizer.json" || name == "tokenizer_config.json") && r.Tokenizer.gguf != nil {
		// a GGUF source exported as HF (WriteHF's files): write them anew
		tj, cfg, err := r.Tokenizer.WriteHF()
		if err != nil {
			return nil, false, err
		}
		r.Files = map[string][]byte{"tokenizer.json": tj, "tokenizer_config.json": cfg}
		return r.Files[name], true, nil
	}
	switch name {
	case "config.json", "generation_config.json":
		b, err := r.Map.RemapConfigIDs(data)
		return b, err == nil, err
	case "tokenizer.model", "spiece.model", "sentencepiece.bpe.model":
		return nil, false, nil
	case "vocab.json", "added_tokens.json":
		var v map[string]int
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, false, fmt.Errorf("%s: %w", name, err)
		}
		o := &object{vals: map[string]json.RawMessage{}}
		type kv struct {
			k string
			n int
		}
		var kvs []kv
		for _, k := range sortedKeys(v) {
			if n := r.Map.Map(v[k]); n >= 0 {
				kvs = append(kvs, kv{k, n})
			}
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].n < kvs[j].n })
		for _, e := range kvs {
			o.set(e.k, json.RawMessage(strconv.Itoa(e.n)))
		}
		return o.marshal(name == "added_tokens.json"), true, nil
	case "merges.txt":
		var b bytes.Buffer
		for i, line := range strings.Split(string(data), "\n") {
			if line == "" {
				continue
			}
			if i == 0 && strings.HasPrefix(line, "#") {
				b.WriteString(line + "\n")
				continue
			}
			a, c, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			ia, ok1 := r.Tokenizer.ID(a)
			ic, ok2 := r.Tokenizer.ID(c)
			im, ok3 := r.Tokenizer.ID(a + c)
			if ok1 && ok2 && ok3 && ia >= 0 && ic >= 0 && im >= 0 {
				b.WriteString(line + "\n")
			}
		}
		return b.Bytes(), true, nil
	}
	return data, true, nil
}
