package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/source"
)

// TestGGUFCarriesTheChatTemplate: a GGUF expert of a Hugging Face source
// holds its chat template where llama.cpp, ollama and LM Studio look
// (tokenizer.chat_template, and named ones as tokenizer.chat_template.NAME
// listed in tokenizer.chat_templates), from wherever the folder keeps it:
// tokenizer_config.json (one template or a list), or chat_template.jinja.
// Before, the expert had none, so a chat with it had no format. Its
// general.name says what it is (source, target, ratio).
func TestGGUFCarriesTheChatTemplate(t *testing.T) {
	const chat = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
	const tool = "{{ tools }}"
	for _, c := range []struct {
		name  string
		edit  func(dir string, cfg map[string]any)
		want  string
		named map[string]string
	}{
		{"tokenizer_config", func(dir string, cfg map[string]any) { cfg["chat_template"] = chat }, chat, nil},
		{"jinja file", func(dir string, cfg map[string]any) {
			os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(chat), 0o644)
		}, chat, nil},
		{"named list", func(dir string, cfg map[string]any) {
			cfg["chat_template"] = []map[string]string{{"name": "default", "template": chat}, {"name": "tool-use", "template": tool}}
		}, chat, map[string]string{"tool_use": tool}},
		{"none", func(dir string, cfg map[string]any) {}, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := synthSource(t, dir, "qwen2", "tiny", nil)
			editJSON(t, filepath.Join(src, "tokenizer_config.json"), func(cfg map[string]any) { c.edit(src, cfg) })
			out := filepath.Join(dir, "expert.gguf")
			mustCall(t, "prune", "--model", src, "--language", "de", "--ratio", "0.3", "--format", "gguf",
				"--out", out, "--eval=false", "--max-docs", "4", "--max-tokens", "32", "--cache", "off")
			f, err := source.OpenFile(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			g, err := gguf.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			if name, _ := g.String("general.name"); name != "src de expert (cusprun 0.3)" {
				t.Errorf("general.name %q, want the source, target and ratio", name)
			}
			got, _ := g.String("tokenizer.chat_template")
			if got != c.want {
				t.Errorf("tokenizer.chat_template %q, want %q", got, c.want)
			}
			names, _ := g.Strings("tokenizer.chat_templates")
			if len(names) != len(c.named) {
				t.Errorf("tokenizer.chat_templates %v, want the names of %v", names, c.named)
			}
			for n, tmpl := range c.named {
				if v, _ := g.String("tokenizer.chat_template." + n); v != tmpl {
					t.Errorf("tokenizer.chat_template.%s %q, want %q", n, v, tmpl)
				}
			}
			mustCall(t, "logits", "--model", out, "--ids", "1,2,3")
		})
	}
}
