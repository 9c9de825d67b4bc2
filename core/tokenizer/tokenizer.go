// Package tokenizer turns text into token ids and back, matching the
// reference implementations token for token: Hugging Face's tokenizers for
// tokenizer.json files (byte-level BPE as in GPT-2, Llama-3 and Qwen; and
// SentencePiece-style BPE with byte fallback as in Llama-2, Mistral and
// Phi-3) and llama.cpp for vocabularies embedded in GGUF files
// (tokenizer.ggml.model "llama" and "gpt2").
//
// Everything is pure Go (regular expressions with lookahead through
// github.com/dlclark/regexp2), so the package builds for GOOS=js and wasip1.
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// EncodeOptions says how Encode treats its text.
type EncodeOptions struct {
	// AddBOS puts the beginning-of-sequence token first, when the vocabulary
	// has one.
	AddBOS bool
	// ParseSpecial makes the text of special tokens ("<s>", "<|endoftext|>",
	// "<|im_start|>") encode as those tokens. Without it they are plain text.
	// Added tokens that are not special (Qwen3's "<think>", GGUF
	// user-defined tokens) match either way, as in the references.
	ParseSpecial bool
}

type modelKind int

const (
	modelBPE modelKind = iota // merges ranked by order (tokenizer.json BPE, GGUF gpt2)
	modelSPM                  // merges ranked by piece score (GGUF llama, llama.cpp's SPM)
)

// Tokenizer encodes and decodes text for one vocabulary.
type Tokenizer struct {
	kind   modelKind
	pieces []string         // id -> token text as stored in the vocabulary
	ids    map[string]int32 // model vocabulary: text -> id
	merges map[uint64]merge // BPE: (left id, right id) -> rank and result
	scores []float32        // SPM: id -> score

	byteIDs      [256]int32 // "<0xXX>" byte tokens, -1 where absent
	runeIDs      []int32    // ids of one-rune tokens below U+0800 (-1: none)
	unk          int32      // -1: none
	byteFallback bool
	fuseUnk      bool
	ignoreMerges bool
	contPrefix   string // BPE continuing_subword_prefix
	eowSuffix    string // BPE end_of_word_suffix

	normalizers []normalizer
	pre         []preTokenizer
	decoders    []decoder

	special   []bool   // id is a special (control) token
	added     *matcher // added tokens matched on the raw text
	addedNorm *matcher // added tokens matched on normalized text

	// llama.cpp SentencePiece handling (GGUF "llama"): a space is put before
	// a text fragment that starts the text or follows a special token, and
	// spaces become U+2581.
	spmEscape      bool
	spmSpacePrefix bool
	// metaSplit: long words may be cut before U+2581 runs (see setMetaSplit).
	metaSplit bool

	bos, eos int32 // -1: none
	pad      int32 // -1: none
	addBOS   bool  // what the tokenizer's configuration asks for
	name     string

	// The source, for WriteGGUF and Restrict: a tokenizer.json (and its
	// tokenizer_config.json) or a GGUF vocabulary.
	srcJSON, srcConfig []byte
	gguf               *ggufSource

	mu    sync.RWMutex
	cache map[string][]int32
}

type merge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// VocabSize is the number of token ids (model vocabulary and added tokens).
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// BOS is the beginning-of-sequence id, or -1 when the vocabulary has none.
func (t *Tokenizer) BOS() int { return int(t.bos) }

// EOS is the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int { return int(t.eos) }

// Pad is the padding id, or -1.
func (t *Tokenizer) Pad() int { return int(t.pad) }

// Unk is the unknown-token id, or -1.
func (t *Tokenizer) Unk() int { return int(t.unk) }

// AddsBOS reports whether the tokenizer's own configuration asks for a BOS
// token before every text (tokenizer_config.json add_bos_token, the
// post-processor template, or GGUF tokenizer.ggml.add_bos_token).
func (t *Tokenizer) AddsBOS() bool { return t.addBOS && t.bos >= 0 }

// Piece is the stored text of token id ("" when out of range).
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// ID is the id of a token by its stored text.
func (t *Tokenizer) ID(piece string) (int, bool) {
	id, ok := t.ids[piece]
	return int(id), ok
}

// IsSpecial reports whether id is a special (control) token.
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}

// Name says where the vocabulary came from.
func (t *Tokenizer) Name() string { return t.name }

// Encode turns text into token ids. Invalid UTF-8 in text is first replaced
// by U+FFFD (one per maximal invalid sequence), as a browser's TextDecoder
// would.
func (t *Tokenizer) Encode(text string, o EncodeOptions) []int {
	ids := t.encode32(text, o, nil)
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}

// EncodeInt32 is Encode appending to dst, without the conversion to int.
func (t *Tokenizer) EncodeInt32(dst []int32, text string, o EncodeOptions) []int32 {
	return t.encode32(text, o, dst)
}

func (t *Tokenizer) encode32(text string, o EncodeOptions, out []int32) []int32 {
	if !utf8.ValidString(text) {
		text = lossyUTF8([]byte(text))
	}
	if o.AddBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	w := getWork()
	defer putWork(w)
	prevSpecial := true
	for _, sg := range t.added.split(text, o.ParseSpecial, w.segs[:0]) {
		if sg.id >= 0 {
			out = append(out, sg.id)
			prevSpecial = true
			continue
		}
		if t.spmEscape {
			s := sg.text
			if t.spmSpacePrefix && prevSpecial {
				s = " " + s
			}
			s = strings.ReplaceAll(s, " ", "\u2581")
			out = t.word(w, s, out)
			prevSpecial = false
			continue
		}
		prevSpecial = false
		n := sg.text
		for _, nz := range t.normalizers {
			n = nz.normalize(n)
		}
		for _, sub := range t.addedNorm.split(n, o.ParseSpecial, nil) {
			if sub.id >= 0 {
				out = append(out, sub.id)
				continue
			}
			pieces := []piece{{s: sub.text, first: sg.start == 0 && sub.start == 0}}
			for _, p := range t.pre {
				pieces = p.split(pieces)
			}
			for _, p := range pieces {
				if p.s == "" {
					continue
				}
				out = t.word(w, p.s, out)
			}
		}
	}
	return out
}

// word runs the model on one pre-token.
func (t *Tokenizer) word(w *work, s string, out []int32) []int32 {
	if t.ignoreMerges {
		if id, ok := t.ids[s]; ok {
			return append(out, id)
		}
	}
	if !t.metaSplit || len(s) <= maxCachedWord {
		return t.cachedWord(w, s, out)
	}
	// No piece holds U+2581 after another character: merges never cross the
	// start of a U+2581 run, so the text can be cut there.
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] == 0xE2 && strings.HasPrefix(s[i:], "\u2581") && !strings.HasSuffix(s[:i], "\u2581") {
			out = t.cachedWord(w, s[start:i], out)
			start = i
		}
	}
	return t.cachedWord(w, s[start:], out)
}

func (t *Tokenizer) cachedWord(w *work, s string, out []int32) []int32 {
	if len(s) <= maxCachedWord {
		t.mu.RLock()
		c, ok := t.cache[s]
		t.mu.RUnlock()
		if ok {
			return append(out, c...)
		}
	}
	n := len(out)
	if t.kind == modelSPM {
		out = t.spmWord(w, s, out)
	} else {
		out = t.bpeWord(w, s, out)
	}
	if len(s) <= maxCachedWord {
		c := append([]int32(nil), out[n:]...)
		t.mu.Lock()
		if len(t.cache) >= maxCacheEntries {
			clear(t.cache)
		}
		t.cache[s] = c
		t.mu.Unlock()
	}
	return out
}

// setMetaSplit enables cutting long words at U+2581 runs when that cannot
// change the result: no vocabulary piece has U+2581 after another character.
func (t *Tokenizer) setMetaSplit() {
	if t.ignoreMerges {
		return
	}
	for s := range t.ids {
		for i := strings.Index(s, "\u2581"); i >= 0; {
			if i > 0 && !strings.HasSuffix(s[:i], "\u2581") {
				return
			}
			j := strings.Index(s[i+3:], "\u2581")
			if j < 0 {
				break
			}
			i += 3 + j
		}
	}
	t.metaSplit = true
}

const (
	maxCachedWord   = 64
	maxCacheEntries = 1 << 16
)

// Decode turns ids back into text, special tokens included as their text.
// Ids outside the vocabulary are skipped.
func (t *Tokenizer) Decode(ids []int) string {
	return t.decode(ids, false)
}

// DecodeSkipSpecial is Decode leaving special tokens out.
func (t *Tokenizer) DecodeSkipSpecial(ids []int) string {
	return t.decode(ids, true)
}

func (t *Tokenizer) decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) {
			continue
		}
		if skipSpecial && t.special[id] {
			continue
		}
		toks = append(toks, t.pieces[id])
	}
	if len(t.decoders) == 0 {
		return strings.Join(toks, " ")
	}
	for _, d := range t.decoders {
		toks = d.decode(toks)
	}
	return strings.Join(toks, "")
}

// newTokenizer makes the empty shell that the loaders fill.
func newTokenizer(n int) *Tokenizer {
	t := &Tokenizer{
		pieces: make([]string, n),
		ids:    make(map[string]int32, n),
		unk:    -1,
		bos:    -1,
		eos:    -1,
		pad:    -1,
		cache:  map[string][]int32{},
	}
	for i := range t.byteIDs {
		t.byteIDs[i] = -1
	}
	return t
}

// setByteIDs finds the "<0xXX>" tokens and the one-rune tokens.
func (t *Tokenizer) setByteIDs() {
	t.runeIDs = make([]int32, 0x800)
	for r := range t.runeIDs {
		t.runeIDs[r] = -1
		if id, ok := t.ids[string(rune(r))]; ok && r != utf8.RuneError {
			t.runeIDs[r] = id
		}
	}
	const hex = "0123456789ABCDEF"
	for b := 0; b < 256; b++ {
		if id, ok := t.ids["<0x"+string(hex[b>>4])+string(hex[b&15])+">"]; ok {
			t.byteIDs[b] = id
		}
	}
}
