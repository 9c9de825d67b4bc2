package source

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBytesReadAt: reads inside, across and past the end.
func TestBytesReadAt(t *testing.T) {
	b := &Bytes{B: []byte("0123456789"), Path: "mem"}
	p := make([]byte, 4)
	if n, err := b.ReadAt(p, 3); n != 4 || err != nil || string(p) != "3456" {
		t.Errorf("ReadAt(4 at 3) = %d %v %q", n, err, p)
	}
	if n, err := b.ReadAt(p, 8); n != 2 || err != io.EOF || string(p[:2]) != "89" {
		t.Errorf("ReadAt(4 at 8) = %d %v %q, want 2 bytes and EOF", n, err, p[:n])
	}
	for _, off := range []int64{10, 11, -1} {
		if n, err := b.ReadAt(p, off); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at %d = %d %v, want 0 and EOF", off, n, err)
		}
	}
	if b.Size() != 10 || b.Name() != "mem" {
		t.Errorf("size %d name %q", b.Size(), b.Name())
	}
}

// TestReadExact: the exact bytes, and an error naming the file for any
// range outside it.
func TestReadExact(t *testing.T) {
	b := &Bytes{B: []byte("abcdef"), Path: "x.bin"}
	if got, err := ReadExact(b, 2, 3); err != nil || string(got) != "cde" {
		t.Errorf("ReadExact(2, 3) = %q %v", got, err)
	}
	if got, err := ReadExact(b, 6, 0); err != nil || len(got) != 0 {
		t.Errorf("ReadExact(6, 0) = %q %v", got, err)
	}
	if got, err := ReadExact(b, 0, 6); err != nil || string(got) != "abcdef" {
		t.Errorf("ReadExact whole = %q %v", got, err)
	}
	for _, r := range [][2]int64{{5, 2}, {7, 0}, {-1, 1}, {0, -1}, {1, 1 << 62}} {
		if _, err := ReadExact(b, r[0], r[1]); err == nil || !strings.Contains(err.Error(), "x.bin") {
			t.Errorf("ReadExact(%d, %d): %v", r[0], r[1], err)
		}
	}
}

// TestReadAll reads a small file whole and refuses one over the limit.
func TestReadAll(t *testing.T) {
	b := &Bytes{B: []byte("hello"), Path: "c.json"}
	if got, err := ReadAll(b, 5); err != nil || string(got) != "hello" {
		t.Errorf("ReadAll = %q %v", got, err)
	}
	if _, err := ReadAll(b, 4); err == nil || !strings.Contains(err.Error(), "c.json") {
		t.Errorf("ReadAll over the limit: %v", err)
	}
}

// TestFile opens a file on disk, reads it at offsets and past its end,
// and refuses folders and missing paths.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w.bin")
	if err := os.WriteFile(p, []byte("weights!"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != 8 || f.Name() != p {
		t.Errorf("size %d name %q", f.Size(), f.Name())
	}
	got, err := ReadExact(f, 4, 4)
	if err != nil || string(got) != "hts!" {
		t.Errorf("ReadExact = %q %v", got, err)
	}
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 6); n != 2 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d %v", n, err)
	}
	if _, err := ReadExact(f, 6, 3); err == nil {
		t.Error("ReadExact past the end succeeded")
	}
	if _, err := OpenFile(dir); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("OpenFile of a folder: %v", err)
	}
	if _, err := OpenFile(filepath.Join(dir, "none")); err == nil {
		t.Error("OpenFile of a missing path succeeded")
	}
}

// TestDir lists the plain files of a folder, sorted, opens them by name,
// and refuses names that could reach outside it.
func TestDir(t *testing.T) {
	dir := t.TempDir()
	for n, s := range map[string]string{"b.json": "B", "a.safetensors": "A"} {
		os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "c"), []byte("C"), 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(dir), "outside"), []byte("O"), 0o644)
	defer os.Remove(filepath.Join(filepath.Dir(dir), "outside"))
	fo, err := OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fo.Names(), ","); got != "a.safetensors,b.json" {
		t.Errorf("names %q, want a.safetensors,b.json", got)
	}
	s, err := fo.Open("b.json")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := ReadAll(s, 10); string(b) != "B" {
		t.Errorf("b.json holds %q", b)
	}
	for _, bad := range []string{"", ".", "..", "../outside", "sub/c", `sub\c`, "sub", "missing"} {
		if _, err := fo.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	fo.(*Dir).Close()
	// a single .gguf file is a folder of one; another file is no model
	os.WriteFile(filepath.Join(dir, "d.gguf"), []byte("GGUF"), 0o644)
	one, err := OpenPath(filepath.Join(dir, "d.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPath(filepath.Join(dir, "b.json")); err == nil || !strings.Contains(err.Error(), "b.json is not a model") {
		t.Errorf("OpenPath of a JSON file: %v", err)
	}
	if got := one.Names(); len(got) != 1 || got[0] != "d.gguf" {
		t.Errorf("a file's folder lists %v", got)
	}
	if _, err := one.Open("a.safetensors"); err == nil {
		t.Error("the folder of one file opened its neighbour")
	}
	if _, err := OpenPath(filepath.Join(dir, "none")); err == nil {
		t.Error("OpenPath of a missing path succeeded")
	}
}

// TestMem lists names sorted and opens what it holds only.
func TestMem(t *testing.T) {
	m := Mem{"z": []byte("1"), "a": []byte("22")}
	if got := strings.Join(m.Names(), ","); got != "a,z" {
		t.Errorf("names %q", got)
	}
	s, err := m.Open("a")
	if err != nil || s.Size() != 2 || s.Name() != "a" {
		t.Fatalf("Open(a) = %v, %v", s, err)
	}
	if _, err := m.Open("b"); err == nil || !strings.Contains(err.Error(), "b") {
		t.Errorf("Open(b): %v", err)
	}
}
