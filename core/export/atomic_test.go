package export

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// umaskModes are the modes a plain os.Create and os.Mkdir give here (0666
// and 0777 less the process umask), which an output should have too.
func umaskModes(t *testing.T) (file, dir os.FileMode) {
	t.Helper()
	d := t.TempDir()
	f, err := os.OpenFile(filepath.Join(d, "probe"), os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	if err := os.Mkdir(filepath.Join(d, "probedir"), 0o777); err != nil {
		t.Fatal(err)
	}
	ds, _ := os.Stat(filepath.Join(d, "probedir"))
	return st.Mode().Perm(), ds.Mode().Perm()
}

// leftovers lists what a folder holds besides the names given.
func leftovers(t *testing.T, dir string, except ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
outer:
	for _, e := range ents {
		for _, x := range except {
			if e.Name() == x {
				continue outer
			}
		}
		out = append(out, e.Name())
	}
	return out
}

// TestToFile writes a file atomically: the bytes written, nothing else
// beside it, and the permissions of a plainly created file.
func TestToFile(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "out.gguf")
	if err := ToFile(final, func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(final)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	if left := leftovers(t, dir, "out.gguf"); len(left) != 0 {
		t.Errorf("left beside the output: %v", left)
	}
	fileMode, _ := umaskModes(t)
	if st, _ := os.Stat(final); st.Mode().Perm() != fileMode {
		t.Errorf("output mode %v, a plainly created file gets %v", st.Mode().Perm(), fileMode)
	}
	// an existing output is never replaced
	err = ToFile(final, func(w io.Writer) error { _, err := io.WriteString(w, "other"); return err })
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("writing over an existing output: %v", err)
	}
	if b, _ := os.ReadFile(final); string(b) != "hello" {
		t.Errorf("the existing output now holds %q", b)
	}
}

// TestToFileFailure: when writing fails midway nothing is at the path and
// the staging file is gone; the error names the path and the cause.
func TestToFileFailure(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "out.zip")
	err := ToFile(final, func(w io.Writer) error {
		w.Write(make([]byte, 3<<20)) // past the buffer: bytes reach the staging file
		return errors.New("tensor 7 is short")
	})
	if err == nil || !strings.Contains(err.Error(), final) || !strings.Contains(err.Error(), "tensor 7 is short") {
		t.Fatalf("error %v does not name the output and the cause", err)
	}
	if _, err := os.Lstat(final); !os.IsNotExist(err) {
		t.Errorf("something is at the output path after a failed write (%v)", err)
	}
	if left := leftovers(t, dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if err := ToFile(filepath.Join(dir, "no", "such", "out.gguf"), func(io.Writer) error { return nil }); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// TestStageClearsStaleStaging: a staging left by a killed run (same output
// name) is removed by the next Stage; other files stay.
func TestStageClearsStaleStaging(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".expert.partial-123")
	if err := os.MkdirAll(filepath.Join(stale, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, ".other.partial-1")
	os.WriteFile(other, []byte("x"), 0o644)
	st, err := Stage(filepath.Join(dir, "expert"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale staging is still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another output's staging was removed: %v", err)
	}
	if filepath.Dir(st.Tmp) != dir || !strings.HasPrefix(filepath.Base(st.Tmp), ".expert.partial-") {
		t.Errorf("staging at %s, want .expert.partial-* beside the output", st.Tmp)
	}
	st.Abort()
	if _, err := os.Stat(st.Tmp); !os.IsNotExist(err) {
		t.Errorf("Abort left %s", st.Tmp)
	}
	// a file staging keeps the extension, so it opens like the output
	fs, err := Stage(filepath.Join(dir, "e.gguf"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Abort()
	if filepath.Ext(fs.Tmp) != ".gguf" {
		t.Errorf("file staging %s lost the extension", fs.Tmp)
	}
}
