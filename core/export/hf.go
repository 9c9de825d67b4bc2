package export

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cusprun/cusprun/core/safetensors"
	"github.com/cusprun/cusprun/core/tensor"
)

// TensorData returns the bytes of one tensor, in the dtype and shape its
// Info declares.
type TensorData func(info tensor.Info) ([]byte, error)

// File is an extra small file of an output folder (config.json, tokenizer files).
type File struct {
	Name string
	Data []byte
}

// WriteSafetensors streams tensors into w in the order given.
func WriteSafetensors(w io.Writer, infos []tensor.Info, data TensorData, meta map[string]string) error {
	sw, err := safetensors.NewWriter(w, infos, meta)
	if err != nil {
		return err
	}
	for _, in := range infos {
		b, err := data(in)
		if err != nil {
			return err
		}
		if err := sw.WriteTensor(in.Name, b); err != nil {
			return err
		}
	}
	return sw.Close()
}

// WriteHFDir writes a Hugging Face folder into dir (which exists and is
// empty): the small files, then model.safetensors.
func WriteHFDir(dir string, files []File, infos []tensor.Info, data TensorData) error {
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return err
		}
	}
	out, err := os.Create(filepath.Join(dir, safetensors.SingleName))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	if err := WriteSafetensors(bw, infos, data, map[string]string{"format": "pt"}); err != nil {
		out.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// HFDir writes a complete Hugging Face folder at final, atomically.
func HFDir(final string, files []File, infos []tensor.Info, data TensorData) error {
	st, err := StageHFDir(final, files, infos, data)
	if err != nil {
		return err
	}
	return st.Commit()
}

// StageHFDir writes the folder into its staging beside final and returns
// the staging, for the caller to check and then Commit or Abort.
func StageHFDir(final string, files []File, infos []tensor.Info, data TensorData) (*Staging, error) {
	st, err := Stage(final, true)
	if err != nil {
		return nil, err
	}
	if err := WriteHFDir(st.Tmp, files, infos, data); err != nil {
		st.Abort()
		return nil, fmt.Errorf("writing %s: %w", final, err)
	}
	return st, nil
}
