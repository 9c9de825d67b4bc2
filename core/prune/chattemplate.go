package prune

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/gguf"
)

// chatTemplates reads a Hugging Face folder's chat templates as llama.cpp's
// converter does (gguf-py's SpecialVocab): tokenizer_config.json's
// chat_template, one template or a list of {"name", "template"} whose
// "default" is the main one; without it, chat_template.jinja (transformers
// writes the template there since 4.5x) or chat_template.json's
// chat_template. An instruct model's GGUF needs it: llama.cpp, ollama and LM
// Studio format a chat with it.
func chatTemplates(files []export.File) (main string, named map[string]string) {
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	var field json.RawMessage
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if json.Unmarshal(byName["tokenizer_config.json"], &cfg) == nil && len(cfg.ChatTemplate) > 0 && string(cfg.ChatTemplate) != "null" {
		field = cfg.ChatTemplate
	} else if b, ok := byName["chat_template.jinja"]; ok {
		return string(b), nil
	} else if json.Unmarshal(byName["chat_template.json"], &cfg) == nil {
		field = cfg.ChatTemplate
	}
	var one string
	if json.Unmarshal(field, &one) == nil {
		return one, nil
	}
	var list []struct{ Name, Template string }
	if json.Unmarshal(field, &list) != nil {
		return "", nil
	}
	for _, c := range list {
		name := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, c.Name)
		switch {
		case name == "" || c.Template == "":
		case name == "default":
			main = c.Template
		default:
			if named == nil {
				named = map[string]string{}
			}
			named[name] = c.Template
		}
	}
	return main, named
}

// writeChatTemplates sets the GGUF keys llama.cpp reads the templates from:
// tokenizer.chat_template, and for named ones tokenizer.chat_template.NAME
// with their names in tokenizer.chat_templates.
func writeChatTemplates(w *gguf.Writer, main string, named map[string]string) {
	var names []string
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w.SetString("tokenizer.chat_template."+n, named[n])
	}
	if len(names) > 0 {
		w.SetStrings("tokenizer.chat_templates", names)
	}
	if main != "" {
		w.SetString("tokenizer.chat_template", main)
	}
}
