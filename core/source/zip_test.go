package source

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeZip builds an archive with the standard library's writer (not the
// one the package reads with): entries stored or deflated as asked.
func makeZip(t *testing.T, entries []struct {
	name, data string
	store      bool
}) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Deflate
		if e.store {
			m = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type entry = struct {
	name, data string
	store      bool
}

// TestZip opens a zip of a model folder under a top folder: entries by base
// name, sorted; a stored entry read in place at offsets (bounded to the
// entry), a deflated one inflated whole.
func TestZip(t *testing.T) {
	weights := strings.Repeat("0123456789", 100)
	z := makeZip(t, []entry{
		{"expert/", "", false},
		{"expert/model.safetensors", weights, true},
		{"expert/config.json", strings.Repeat(`{"a": 1}`, 50), false},
	})
	p := filepath.Join(t.TempDir(), "expert.zip")
	if err := os.WriteFile(p, z, 0o644); err != nil {
		t.Fatal(err)
	}
	fo, err := OpenPath(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fo.Names(), ","); got != "config.json,model.safetensors" {
		t.Errorf("names %q", got)
	}
	w, err := fo.Open("model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(len(weights)) || !strings.HasSuffix(w.Name(), "model.safetensors") {
		t.Errorf("stored entry: size %d name %q", w.Size(), w.Name())
	}
	got, err := ReadExact(w, 995, 5)
	if err != nil || string(got) != "56789" {
		t.Errorf("ReadExact at the end of the entry = %q %v", got, err)
	}
	buf := make([]byte, 10)
	if n, err := w.ReadAt(buf, 995); n != 5 || err != io.EOF {
		t.Errorf("ReadAt across the entry's end = %d %v (must not read the next entry)", n, err)
	}
	if _, err := ReadExact(w, 996, 5); err == nil {
		t.Error("ReadExact past the entry succeeded")
	}
	c, err := fo.Open("config.json")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ReadAll(c, 1<<20); err != nil || string(b) != strings.Repeat(`{"a": 1}`, 50) {
		t.Errorf("deflated entry = %q %v", b, err)
	}
	if _, err := fo.Open("tokenizer.json"); err == nil {
		t.Error("a missing entry opened")
	}
}

// TestZipErrors: two entries with one base name, and a file that is not a
// zip, are errors naming the archive.
func TestZipErrors(t *testing.T) {
	dup := makeZip(t, []entry{{"a/config.json", "1", false}, {"b/config.json", "2", false}})
	if _, err := OpenZip(&Bytes{B: dup, Path: "dup.zip"}); err == nil || !strings.Contains(err.Error(), "dup.zip") {
		t.Errorf("duplicate base names: %v", err)
	}
	if _, err := OpenZip(&Bytes{B: []byte("not a zip at all"), Path: "bad.zip"}); err == nil || !strings.Contains(err.Error(), "bad.zip") {
		t.Errorf("not a zip: %v", err)
	}
	// an archive cut short loses its directory
	good := makeZip(t, []entry{{"m.safetensors", strings.Repeat("x", 100), true}})
	if _, err := OpenZip(&Bytes{B: good[:len(good)-10], Path: "cut.zip"}); err == nil {
		t.Error("a truncated zip opened")
	}
}
