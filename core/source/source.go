// Package source gives random access to model files without reading them
// whole: an os.File natively, a browser Blob under GOOS=js, a WASI file under
// wasip1. Everything that parses a model goes through Source and Folder.
package source

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one file opened for reading at any offset.
type Source interface {
	io.ReaderAt
	Size() int64
	Name() string
}

// Folder is a set of named files: a Hugging Face model folder, or a single
// GGUF file seen as a folder of one.
type Folder interface {
	// Open returns the file with this base name, or an error that names it.
	Open(name string) (Source, error)
	// Names lists the files present, sorted.
	Names() []string
}

// ReadAll reads a whole (small) file, refusing one larger than limit bytes.
func ReadAll(s Source, limit int64) ([]byte, error) {
	if s.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d allowed for this kind of file", s.Name(), s.Size(), limit)
	}
	b := make([]byte, s.Size())
	if _, err := s.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	return b, nil
}

// ReadExact reads n bytes at off, with an error that says where and why it
// could not.
func ReadExact(s Source, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.Size() || n > s.Size()-off {
		return nil, fmt.Errorf("%s: range [%d, %d) lies outside the file (size %d)", s.Name(), off, off+n, s.Size())
	}
	b := make([]byte, n)
	if _, err := s.ReadAt(b, off); err != nil && !(err == io.EOF && n == 0) {
		if err == io.EOF {
			return b, nil
		}
		return nil, fmt.Errorf("%s: reading %d bytes at %d: %w", s.Name(), n, off, err)
	}
	return b, nil
}

// File is a Source over an os.File, opened read-only.
type File struct {
	f    *os.File
	size int64
	name string
}

// OpenFile opens path read-only.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a folder, not a file", path)
	}
	return &File{f: f, size: st.Size(), name: path}, nil
}

func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }
func (f *File) Size() int64                             { return f.size }
func (f *File) Name() string                            { return f.name }
func (f *File) Close() error                            { return f.f.Close() }

// Bytes is a Source over memory, for tests and small files.
type Bytes struct {
	B    []byte
	Path string
}

func (b *Bytes) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b.B)) {
		return 0, io.EOF
	}
	n := copy(p, b.B[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (b *Bytes) Size() int64  { return int64(len(b.B)) }
func (b *Bytes) Name() string { return b.Path }

// Dir is a Folder over a directory on disk. Only plain files directly inside
// it are visible: names with a path separator or ".." are refused, so an index
// file cannot point outside the folder.
type Dir struct {
	Path  string
	names []string
	open  []*File
}

// OpenPath opens a model path: a directory becomes a Dir, a single file a
// folder holding just that file.
func OpenPath(path string) (Folder, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open model: %w", err)
	}
	if !st.IsDir() {
		return openSingleFile(path)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("cannot list model folder: %w", err)
	}
	d := &Dir{Path: path}
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			d.names = append(d.names, e.Name())
		}
	}
	sort.Strings(d.names)
	return d, nil
}

func (d *Dir) Names() []string { return d.names }

func (d *Dir) Open(name string) (Source, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("%q is not a file name inside the model folder", name)
	}
	found := false
	for _, n := range d.names {
		found = found || n == name
	}
	if !found {
		return nil, fmt.Errorf("%s: no such file in %s", name, d.Path)
	}
	f, err := OpenFile(filepath.Join(d.Path, name))
	if err != nil {
		return nil, err
	}
	d.open = append(d.open, f)
	return f, nil
}

// Close closes every file opened through d.
func (d *Dir) Close() error {
	for _, f := range d.open {
		f.Close()
	}
	d.open = nil
	return nil
}

// Mem is a Folder held in memory (tests, the browser's small files).
type Mem map[string][]byte

func (m Mem) Names() []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (m Mem) Open(name string) (Source, error) {
	b, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("%s: no such file in the model", name)
	}
	return &Bytes{B: b, Path: name}, nil
}

// openSingleFile opens a model that is one file: a zip of a model folder,
// or a GGUF file. Both are told by their name or, when the name says
// nothing (an expert written to "--out expert"), by their first bytes. Any
// other file is refused, saying which folder it belongs to when it is one
// file of a model folder (its config.json, say).
func openSingleFile(path string) (Folder, error) {
	lower := strings.ToLower(path)
	if strings.HasSuffix(lower, ".gguf") {
		return &Dir{Path: filepath.Dir(path), names: []string{filepath.Base(path)}}, nil
	}
	f, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	magic := make([]byte, 4)
	n, _ := f.ReadAt(magic, 0)
	switch {
	case strings.HasSuffix(lower, ".zip") || string(magic[:n]) == "PK\x03\x04":
		return OpenZip(f)
	case string(magic[:n]) == "GGUF":
		return Single(f, filepath.Base(path)+".gguf"), nil
	}
	f.Close()
	dir := filepath.Dir(path)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return nil, fmt.Errorf("%s is one file of the model folder %s: give the folder", path, dir)
	}
	return nil, fmt.Errorf("%s is not a model: give a model folder (config.json and safetensors), a .gguf file or a .zip of a model folder", path)
}
