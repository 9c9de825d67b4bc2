package source

import (
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/klauspost/compress/zip"
)

// Zip is a Folder over a .zip of a model folder: stored (uncompressed)
// entries are read in place at their offsets, so weights stay lazy;
// compressed entries are small files and are inflated on open.
type Zip struct {
	src   Source
	files map[string]*zip.File
	names []string
}

// OpenZip reads a zip's directory. Entries in sub-folders are seen by their
// base name when the archive holds a single top folder.
func OpenZip(src Source) (*Zip, error) {
	zr, err := zip.NewReader(src, src.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", src.Name(), err)
	}
	z := &Zip{src: src, files: map[string]*zip.File{}}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		n := path.Base(f.Name)
		if _, dup := z.files[n]; dup {
			return nil, fmt.Errorf("%s: two entries named %s", src.Name(), n)
		}
		z.files[n] = f
		z.names = append(z.names, n)
	}
	sort.Strings(z.names)
	return z, nil
}

func (z *Zip) Names() []string { return z.names }

func (z *Zip) Open(name string) (Source, error) {
	f, ok := z.files[name]
	if !ok {
		return nil, fmt.Errorf("%s: no such file in %s", name, z.src.Name())
	}
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %v", name, z.src.Name(), err)
		}
		size := int64(f.UncompressedSize64)
		if off < 0 || size < 0 || off+size > z.src.Size() {
			return nil, fmt.Errorf("%s in %s: entry lies outside the archive", name, z.src.Name())
		}
		return &section{io.NewSectionReader(z.src, off, size), z.src.Name() + "/" + name}, nil
	}
	if f.UncompressedSize64 > 256<<20 {
		return nil, fmt.Errorf("%s in %s: a compressed entry of %d bytes is too large to inflate; store weights uncompressed", name, z.src.Name(), f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %v", name, z.src.Name(), err)
	}
	return &Bytes{B: b, Path: z.src.Name() + "/" + name}, nil
}

type section struct {
	*io.SectionReader
	name string
}

func (s *section) Name() string { return s.name }
