package prune

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
)

// flipByte changes one byte of a file in place.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyCatchesOneByte exports an expert, checks it verifies, then in
// fresh exports changes one byte of one tensor (a layer matrix, a layer
// norm, the embedding) and expects Verify to fail naming that tensor.
func TestVerifyCatchesOneByte(t *testing.T) {
	for _, format := range []string{"hf", "gguf"} {
		t.Run(format, func(t *testing.T) {
			m, folder, _ := synthModel(t, synth.Options{Family: "llama", Shape: "tiny"}, "hf")
			r := rand.New(rand.NewPCG(7, 8))
			sc, err := Score(context.Background(), m, model.CPU{}, randomSeqs(r, 3, 16, m.Config.Vocab), nil)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", 0.3, "uniform", false)
			if err != nil {
				t.Fatal(err)
			}
			export := func() (string, *Slicer) {
				out := filepath.Join(t.TempDir(), "expert")
				if format == "gguf" {
					out += ".gguf"
				}
				sl := &Slicer{M: m, Plan: plan, Source: folder}
				o := Output{Path: out, Format: format, Name: "test", Files: SmallFiles(folder)}
				if format == "gguf" {
					v, _ := synth.NewVocab(m.Config.Vocab)
					o.VocabMeta = v.GGUF
				}
				if err := Export(sl, o); err != nil {
					t.Fatal(err)
				}
				if err := Verify(out, sl); err != nil {
					t.Fatalf("the untouched export does not verify: %v", err)
				}
				return out, sl
			}
			for _, c := range []struct {
				role  model.Role
				layer int
			}{{model.RoleDown, 1}, {model.RoleQ, 0}, {model.RoleFFNNorm, 1}, {model.RoleEmbed, -1}, {model.RoleLMHead, -1}} {
				out, sl := export()
				pm, err := model.OpenPath(out)
				if err != nil {
					t.Fatal(err)
				}
				name := pm.TensorName(c.role, c.layer)
				info, ok := pm.Store.Lookup(name)
				if !ok {
					t.Fatalf("the export has no %s", name)
				}
				file := out
				if format == "hf" {
					file = filepath.Join(out, "model.safetensors")
				}
				// a byte in the middle of the tensor
				flipByte(t, file, info.Offset+info.Bytes()/2+1)
				err = Verify(out, sl)
				if err == nil {
					t.Errorf("one changed byte in %s passed Verify", name)
				} else if !strings.Contains(err.Error(), name) {
					t.Errorf("Verify of a changed %s: %v (does not name the tensor)", name, err)
				}
			}
		})
	}
}
