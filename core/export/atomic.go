// Package export writes models: a Hugging Face folder (config.json,
// safetensors, tokenizer files), the same folder as one .zip, or a GGUF
// file. Writers stream tensor by tensor from a callback, so neither synth nor
// prune ever holds a whole model; every output is written beside its final
// path and renamed into place only when complete, so an interrupted job
// leaves nothing at the output path.
package export

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Staging is a temporary path beside the final one; Commit renames it into
// place, Abort removes it.
type Staging struct {
	Final, Tmp string
}

// Stage prepares writing to final (a file or a folder). It refuses an
// existing output so nothing a user has is replaced by accident.
func Stage(final string, dir bool) (*Staging, error) {
	final = filepath.Clean(final)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%s already exists; choose a new output path or remove it", final)
	}
	parent := filepath.Dir(final)
	if st, err := os.Stat(parent); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("output folder %s does not exist", parent)
	}
	// The staging name keeps the extension so it opens like the final file.
	pattern := "." + filepath.Base(final) + ".partial-*" + filepath.Ext(final)
	// A job killed earlier (SIGKILL leaves no chance to clean up) left its
	// staging beside the output: it was never the output, so remove it.
	if old, _ := filepath.Glob(filepath.Join(parent, pattern)); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	var tmp string
	var err error
	if dir {
		tmp, err = os.MkdirTemp(parent, pattern)
	} else {
		var f *os.File
		f, err = os.CreateTemp(parent, pattern)
		if f != nil {
			tmp = f.Name()
			f.Close()
		}
	}
	if err == nil {
		err = plainMode(tmp, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write beside %s: %w", final, err)
	}
	st := &Staging{Final: final, Tmp: tmp}
	live.Store(st, struct{}{})
	return st, nil
}

// live holds every staging not yet committed or aborted, so that a process
// stopped by a signal can remove them all before it exits (AbortAll).
var live sync.Map

// AbortAll removes every staging of this process that is still open: what
// a command does when it is interrupted, whatever its job was doing.
func AbortAll() {
	live.Range(func(k, _ any) bool {
		k.(*Staging).Abort()
		return true
	})
}

// plainMode re-creates a fresh staging with the mode a plain create gives
// (0666 or 0777 less the umask): os.CreateTemp and os.MkdirTemp make it
// private to the owner, and the rename would carry that to the output.
func plainMode(tmp string, dir bool) error {
	if err := os.Remove(tmp); err != nil {
		return err
	}
	if dir {
		return os.Mkdir(tmp, 0o777)
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	return f.Close()
}

// Commit moves the finished output into place.
func (s *Staging) Commit() error {
	live.Delete(s)
	if err := os.Rename(s.Tmp, s.Final); err != nil {
		s.Abort()
		return fmt.Errorf("cannot move the output into place: %w", err)
	}
	return nil
}

// Abort removes whatever was written.
func (s *Staging) Abort() {
	live.Delete(s)
	os.RemoveAll(s.Tmp)
}

// ToFile writes a single-file output at final through write, atomically:
// into a temporary file beside it, synced, then renamed.
func ToFile(final string, write func(io.Writer) error) error {
	st, err := StageFile(final, write)
	if err != nil {
		return err
	}
	return st.Commit()
}

// StageFile writes a single-file output into its staging beside final and
// returns the staging, for the caller to check and then Commit or Abort.
func StageFile(final string, write func(io.Writer) error) (*Staging, error) {
	st, err := Stage(final, false)
	if err != nil {
		return nil, err
	}
	err = func() error {
		f, err := os.Create(st.Tmp)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		return f.Sync()
	}()
	if err != nil {
		st.Abort()
		return nil, fmt.Errorf("writing %s: %w", final, err)
	}
	return st, nil
}
