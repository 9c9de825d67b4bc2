package source

import "fmt"

// Single is a folder of one file: a GGUF model read from a Source that has
// no folder around it (a browser Blob, a download being checked).
func Single(src Source, name string) Folder { return single{src, name} }

type single struct {
	src  Source
	name string
}

func (f single) Names() []string { return []string{f.name} }

func (f single) Open(n string) (Source, error) {
	if n != f.name {
		return nil, fmt.Errorf("%s: no such file (the folder holds only %s)", n, f.name)
	}
	return f.src, nil
}
