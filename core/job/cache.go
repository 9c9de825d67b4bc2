package job

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
)

// HashSources returns the SHA-256 of every file of a model folder, by name.
// The score cache is keyed by them, and report.json records them, so an
// expert can be traced to the exact files it came from.
func HashSources(f source.Folder) (map[string]string, error) {
	out := map[string]string{}
	buf := make([]byte, 4<<20)
	for _, name := range f.Names() {
		src, err := f.Open(name)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		for off := int64(0); off < src.Size(); {
			n := int(min(int64(len(buf)), src.Size()-off))
			if _, err := src.ReadAt(buf[:n], off); err != nil && err != io.EOF {
				return nil, fmt.Errorf("%s: reading at byte %d: %w", name, off, err)
			}
			h.Write(buf[:n])
			off += int64(n)
		}
		out[name] = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// cacheKey names the scores of one model, engine and calibration text: a
// second job that agrees on all three selects from the same scores.
func cacheKey(hashes map[string]string, be model.Backend, seqs [][]int) string {
	h := sha256.New()
	fmt.Fprintf(h, "cusprun scores\x00%T\x00", be)
	names := make([]string, 0, len(hashes))
	for n := range hashes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, hashes[n])
	}
	var b [4]byte
	for _, s := range seqs {
		binary.LittleEndian.PutUint32(b[:], uint32(len(s)))
		h.Write(b[:])
		for _, id := range s {
			binary.LittleEndian.PutUint32(b[:], uint32(id))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func cachePath(dir, key string) string { return filepath.Join(dir, "scores-"+key+".gob") }

// loadCached returns the saved scorer under key, or nil when there is none
// or it cannot be read (the cache is an optimisation: a bad entry is
// scored again and replaced).
func loadCached(dir, key string, c *model.Config) *prune.Scorer {
	f, err := os.Open(cachePath(dir, key))
	if err != nil {
		return nil
	}
	defer f.Close()
	sc, err := prune.LoadScorer(f, c)
	if err != nil {
		return nil
	}
	return sc
}

// saveCached stores a scorer atomically (a killed job leaves no half entry).
func saveCached(dir, key string, sc *prune.Scorer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return export.ToFile(cachePath(dir, key), sc.Save)
}

// denseCachePath names the dense model's held-out evaluation for one
// engine, set of held-out slices and document length: the "before" half of
// every later job's evaluation on the same model. The slices' documents
// themselves are in the key, not only the target that chose them, so a
// cusprun whose built-in held-out text differs (a newer version, another
// capping rule) never reads an evaluation of other documents.
func denseCachePath(dir string, hashes map[string]string, be model.Backend, slices []Slice, evalTokens int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", cacheKey(hashes, be, nil), evalTokens)
	for _, sl := range slices {
		fmt.Fprintf(h, "%s\x00%d\x00", sl.Name, len(sl.Docs))
		for _, d := range sl.Docs {
			fmt.Fprintf(h, "%d\x00%s\x00", len(d.Text), d.Text)
		}
	}
	return filepath.Join(dir, "dense-"+hex.EncodeToString(h.Sum(nil)[:16])+".json")
}

func loadDense(path string) map[string]prune.Perplexity {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out map[string]prune.Perplexity
	if json.Unmarshal(b, &out) != nil || len(out) == 0 {
		return nil
	}
	return out
}

func saveDense(path string, ppl map[string]prune.Perplexity) error {
	b, err := json.Marshal(ppl)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	os.Remove(path)
	return export.ToFile(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}
