package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/cusprun/cusprun/cli"
)

func init() { cli.WasmRunner = runWasm }

// wasmPath finds the WASI build: $CUSPRUN_WASM, beside this executable, or
// bin/ of the working folder (where ./build.sh build puts it).
func wasmPath() (string, error) {
	var tries []string
	if p := os.Getenv("CUSPRUN_WASM"); p != "" {
		tries = append(tries, p)
	}
	if exe, err := os.Executable(); err == nil {
		tries = append(tries, filepath.Join(filepath.Dir(exe), "cusprun.wasm"))
	}
	tries = append(tries, filepath.Join("bin", "cusprun.wasm"))
	for _, p := range tries {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("the WASI build cusprun.wasm was not found (tried %s); run ./build.sh build", strings.Join(tries, ", "))
}

// pathFlags are the flags whose values are host paths the guest must see.
var pathFlags = map[string]bool{"model": true, "data": true, "out": true, "corpus": true, "eval-data": true, "tokenizer": true, "mc": true}

// hostArgs makes path flags absolute and drops --engine, and returns the
// folders the guest needs write access to.
func hostArgs(args []string) ([]string, []string, error) {
	var out, writable []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
			continue
		}
		if name == "engine" {
			if !hasVal {
				i++
			}
			continue
		}
		if !pathFlags[name] {
			out = append(out, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			val = args[i]
		}
		abs, err := filepath.Abs(val)
		if err != nil {
			return nil, nil, err
		}
		if name == "out" {
			writable = append(writable, filepath.Dir(abs))
		}
		out = append(out, "--"+name+"="+abs)
	}
	return out, writable, nil
}

// runWasm runs one verb inside the WASI build under wazero, with the host
// file system visible read-only at the same paths (output folders writable),
// and returns the guest's JSON. The peak linear memory goes to stderr.
func runWasm(verb string, args []string) (any, error) {
	path, err := wasmPath()
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	gargs, writable, err := hostArgs(args)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig()
	if dir, err := os.UserCacheDir(); err == nil {
		if cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "cusprun", "wazero")); err == nil {
			cfg = cfg.WithCompilationCache(cache)
		}
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	mod, err := r.CompileModule(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", path, err)
	}
	fsc := wazero.NewFSConfig().WithReadOnlyDirMount("/", "/")
	for _, w := range writable {
		fsc = fsc.WithDirMount(w, w)
	}
	var stdout bytes.Buffer
	stderr := &guestStderr{prefix: "cusprun " + verb + ": ", w: cli.Stderr}
	mc := wazero.NewModuleConfig().WithName("cusprun").WithArgs(append([]string{"cusprun", verb}, gargs...)...).
		WithStdout(&stdout).WithStderr(stderr).WithFSConfig(fsc).
		WithSysWalltime().WithSysNanotime().WithStartFunctions().
		// Linear memory only grows: a tighter heap limit than natively keeps
		// the high-water mark near what is live (one layer and one tensor).
		WithEnv("GOMEMLIMIT", wasmMemLimit())
	inst, err := r.InstantiateModule(ctx, mod, mc)
	if err != nil {
		return nil, err
	}
	_, err = inst.ExportedFunction("_start").Call(ctx)
	pages := inst.Memory().Size()
	fmt.Fprintf(cli.Stderr, "wasm: peak linear memory %.1f MiB\n", float64(pages)/(1<<20))
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		if exit.ExitCode() != 0 {
			// The guest's own one-line error becomes this command's.
			if msg := stderr.failure(); msg != "" {
				return nil, &cli.ExitError{Code: int(exit.ExitCode()), Msg: msg}
			}
			return nil, fmt.Errorf("the wasm engine failed (exit %d)", exit.ExitCode())
		}
	} else if err != nil {
		return nil, err
	}
	stderr.flush()
	out := bytes.TrimSpace(stdout.Bytes())
	if !json.Valid(out) {
		return nil, fmt.Errorf("the wasm engine printed no JSON")
	}
	return json.RawMessage(out), nil
}

// wasmMemLimit is the guest's soft heap limit: $CUSPRUN_WASM_MEMLIMIT, else
// 640MiB.
func wasmMemLimit() string {
	if v := os.Getenv("CUSPRUN_WASM_MEMLIMIT"); v != "" {
		return v
	}
	return "640MiB"
}

// guestStderr passes the guest's stderr through line by line, but holds
// back its error lines ("cusprun VERB: ..."): when the guest fails, the last
// of them is the host's error, printed once, rather than followed by a
// line that only says the guest failed.
type guestStderr struct {
	prefix string
	w      io.Writer
	part   []byte   // an unfinished line
	held   []string // error lines not yet printed
}

func (g *guestStderr) Write(p []byte) (int, error) {
	g.part = append(g.part, p...)
	for {
		i := bytes.IndexByte(g.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(g.part[:i+1])
		g.part = g.part[i+1:]
		if strings.HasPrefix(line, g.prefix) {
			g.held = append(g.held, line)
			continue
		}
		if _, err := io.WriteString(g.w, line); err != nil {
			return len(p), err
		}
	}
}

// failure prints all but the last held error line and returns the last
// one without its prefix ("" if there is none).
func (g *guestStderr) failure() string {
	if len(g.held) == 0 {
		return ""
	}
	last := g.held[len(g.held)-1]
	g.held = g.held[:len(g.held)-1]
	g.flush()
	return strings.TrimSpace(strings.TrimPrefix(last, g.prefix))
}

// flush prints the held lines and any unfinished one.
func (g *guestStderr) flush() {
	for _, l := range g.held {
		io.WriteString(g.w, l)
	}
	g.w.Write(g.part)
	g.held, g.part = nil, nil
}
