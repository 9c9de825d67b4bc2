package llamaref

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The quantization references: llama.cpp's own quantizer (llama_model_quantize
// in the libllama that @node-llama-cpp/linux-x64 ships, driven by a small C
// program compiled with gcc on first use) and gguf-py's numpy dequantizers
// (from the llama.cpp sources node-llama-cpp bundles), an implementation
// independent of cusprun's.

//go:embed csrc/quantize.c
var quantizeC []byte

//go:embed pysrc/dequant.py
var dequantPy []byte

// FTypes are llama.cpp's file types (enum llama_ftype) by the name
// llama-quantize gives them.
var FTypes = map[string]int{
	"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q2_k": 10,
	"q3_k_s": 11, "q3_k_m": 12, "q3_k_l": 13, "q4_k_s": 14, "q4_k_m": 15,
	"q5_k_s": 16, "q5_k_m": 17, "q6_k": 18, "iq4_nl": 25, "iq4_xs": 30,
}

// libDir is where the prebuilt libllama lives under the deps folder.
func libDir(deps string) string {
	return filepath.Join(deps, "node", "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
}

// LlamaCppSrc is the llama.cpp source tree: $CUSPRUN_LLAMACPP_SRC, else
// llama.cpp in the deps folder (cloned by ./build.sh setup).
func LlamaCppSrc() string {
	if d := os.Getenv("CUSPRUN_LLAMACPP_SRC"); d != "" {
		return d
	}
	return filepath.Join(DepsDir(), "llama.cpp")
}

// libllama is the versioned library file name in libDir.
const libllama = "libllama.v0.4.0.so"

// QuantizeAvailable reports why Quantize cannot run, or nil.
func QuantizeAvailable() error {
	if _, err := exec.LookPath("gcc"); err != nil {
		return errors.New("llamaref: gcc is not on PATH (needed to build the quantize helper)")
	}
	if _, err := os.Stat(filepath.Join(libDir(DepsDir()), libllama)); err != nil {
		return fmt.Errorf("llamaref: %s is missing (run ./build.sh setup)", filepath.Join(libDir(DepsDir()), libllama))
	}
	if _, err := os.Stat(filepath.Join(LlamaCppSrc(), "include", "llama.h")); err != nil {
		return fmt.Errorf("llamaref: llama.h is missing under %s (run ./build.sh setup)", LlamaCppSrc())
	}
	return nil
}

var (
	quantizeOnce sync.Once
	quantizeBin  string
	quantizeErr  error
)

// helper compiles quantize.c once into the temporary folder, under a name
// made from the source and the library it links (so test runs share one
// build and leave one behind, not one each).
func helper() (string, error) {
	quantizeOnce.Do(func() {
		if quantizeErr = QuantizeAvailable(); quantizeErr != nil {
			return
		}
		lib, inc := libDir(DepsDir()), LlamaCppSrc()
		h := sha256.New()
		h.Write(quantizeC)
		fmt.Fprintf(h, "\x00%s\x00%s", lib, inc)
		if st, err := os.Stat(filepath.Join(lib, libllama)); err == nil {
			fmt.Fprintf(h, "\x00%d\x00%d", st.Size(), st.ModTime().UnixNano())
		}
		quantizeBin, quantizeErr = shared(fmt.Sprintf("cusprun-quantize-%x", h.Sum(nil)[:8]), func(bin string) error {
			src := bin + ".c"
			if err := os.WriteFile(src, quantizeC, 0o600); err != nil {
				return err
			}
			cmd := exec.Command("gcc", "-O1", "-o", bin, src,
				"-I"+filepath.Join(inc, "include"), "-I"+filepath.Join(inc, "ggml", "include"),
				"-L"+lib, "-l:"+libllama, "-Wl,-rpath,"+lib)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("llamaref: gcc quantize.c: %v: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		})
	})
	return quantizeBin, quantizeErr
}

// Quantize runs llama.cpp's quantizer on in (an F32 or F16 GGUF) and writes
// out with the file type ftype (a key of FTypes). pure gives every 2-D
// tensor the file type's base type instead of llama.cpp's mix. It returns
// the quantizer's log (each tensor's chosen type and any fallback).
func Quantize(in, out, ftype string, pure bool) (string, error) {
	ft, ok := FTypes[ftype]
	if !ok {
		return "", fmt.Errorf("llamaref: unknown file type %q", ftype)
	}
	bin, err := helper()
	if err != nil {
		return "", err
	}
	args := []string{in, out, strconv.Itoa(ft)}
	if pure {
		args = append(args, "pure")
	}
	cmd := exec.Command(bin, args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		s := strings.TrimSpace(log.String())
		if len(s) > 2000 {
			s = s[len(s)-2000:]
		}
		return log.String(), fmt.Errorf("llamaref: quantize %s to %s: %v: %s", filepath.Base(in), ftype, err, s)
	}
	return log.String(), nil
}

// python is an interpreter that has numpy: python3 on PATH, else Debian's.
func python() (string, error) {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import numpy").Run() == nil {
			return p, nil
		}
	}
	return "", errors.New("llamaref: no python3 with numpy (apt-get install python3-numpy, or ./build.sh setup)")
}

// DequantizeAvailable reports why Dequantize cannot run, or nil.
func DequantizeAvailable() error {
	if _, err := python(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(LlamaCppSrc(), "gguf-py", "gguf", "quants.py")); err != nil {
		return fmt.Errorf("llamaref: gguf-py is missing under %s (run ./build.sh setup)", LlamaCppSrc())
	}
	return nil
}

// RefTensor is one tensor widened to float32 by gguf-py.
type RefTensor struct {
	Name   string
	Type   string // the GGML type as gguf-py names it
	Values []float32
}

// Dequantize widens every tensor of a GGUF file to float32 with gguf-py's
// numpy dequantizers, in file order.
func Dequantize(path string) ([]RefTensor, error) {
	if err := DequantizeAvailable(); err != nil {
		return nil, err
	}
	py, _ := python()
	dir, err := os.MkdirTemp("", "cusprun-dequant-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script, out := filepath.Join(dir, "dequant.py"), filepath.Join(dir, "out.f32")
	if err := os.WriteFile(script, dequantPy, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(py, script, path, out)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(LlamaCppSrc(), "gguf-py"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("llamaref: dequant.py %s: %v: %s", filepath.Base(path), err, strings.TrimSpace(stderr.String()))
	}
	var meta []struct {
		Name, Type string
		N          int
	}
	if err := json.Unmarshal(stdout.Bytes(), &meta); err != nil {
		return nil, fmt.Errorf("llamaref: dequant.py output: %v", err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var ts []RefTensor
	off := 0
	for _, m := range meta {
		if off+4*m.N > len(raw) {
			return nil, fmt.Errorf("llamaref: dequant.py wrote %d bytes, short of tensor %q", len(raw), m.Name)
		}
		v := make([]float32, m.N)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[off+4*i:]))
		}
		off += 4 * m.N
		ts = append(ts, RefTensor{Name: m.Name, Type: m.Type, Values: v})
	}
	if off != len(raw) {
		return nil, fmt.Errorf("llamaref: dequant.py wrote %d bytes, %d expected", len(raw), off)
	}
	return ts, nil
}
