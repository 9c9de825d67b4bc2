//go:build js && wasm

// Command js is cusprun in a browser (GOOS=js GOARCH=wasm): it puts a small
// Promise-based API on globalThis.cusprun. The page runs it in a dedicated
// Web Worker (site/worker.js), so the tab's main thread only renders; the
// worker relays these calls as messages. Every call runs in its own
// goroutine and returns a Promise:
//
//	cusprun.setEngine("auto"|"cpu")           -> {engine, device, note}
//	cusprun.open(files)                         -> model description
//	cusprun.prune(options, onProgress)          -> plan and parameter counts
//	cusprun.scoreShard(options, i, n, onProgress) -> Uint8Array (part i of n of the scores; see workers.go)
//	cusprun.evaluateShard(options, sizes, i, n, onProgress) -> part i of n of the evaluation
//	cusprun.mergeEvaluation(parts)              -> the evaluation, as evaluate returns it
//	cusprun.refitShard(options, plan, i, n, onProgress) -> Uint8Array (part i of n of the refit's layers)
//	cusprun.useRefit(parts, seconds)            -> {refit, seconds}: the parts joined into the last prune
//	cusprun.exportTo(sink, onProgress)          -> {bytes}; sink.write(Uint8Array) may return a Promise
//	cusprun.openExpert(blob)                    -> re-opens and verifies what was written
//	cusprun.useExpert(blob, isGGUF)             -> opens a verified expert for generate (after a restart)
//	cusprun.validate(options)                   -> "" or why the options are refused (job.Validate)
//	cusprun.estimate(options)                   -> {tokens, score_macs, refit_macs}: the job's size, for its estimate
//	cusprun.limits()                            -> {maxRatio}
//	cusprun.corpusInfo(files)                   -> [{name, docs, tags, error}]: what a prune would read from them
//	cusprun.evaluate({maxDocs, maxTokens}, onProgress) -> perplexity before/after
//	cusprun.generate(which, prompt, n, onText)  -> text ("original" or "expert")
//	cusprun.logits(which, ids)                  -> Float32Array, every position
//	cusprun.tokenize(text)                      -> ids
//	cusprun.cancel()                            -> stops the running call (synchronous)
//	cusprun.memory()                            -> Go heap figures (synchronous)
//
// onProgress(phase, done, total) hears about long work.
package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall/js"

	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/gpu"
	"github.com/cusprun/cusprun/wasm/js/app"
)

type state struct {
	mu      sync.Mutex
	sess    *app.Session
	be      model.Backend
	gpu     *gpu.Backend
	engine  map[string]string
	cancels map[int]context.CancelFunc
	next    int
}

var st = &state{be: model.CPU{}, cancels: map[int]context.CancelFunc{}}

// job gives a call a context that cancel() ends.
func (s *state) job() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	id := s.next
	s.next++
	s.cancels[id] = cancel
	s.mu.Unlock()
	return ctx, func() {
		s.mu.Lock()
		delete(s.cancels, id)
		s.mu.Unlock()
		cancel()
	}
}

func (s *state) session() (*app.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("open a model first")
	}
	return s.sess, nil
}

// progressFn adapts a JS callback (or undefined).
func progressFn(f js.Value) func(string, int, int) {
	if f.Type() != js.TypeFunction {
		return nil
	}
	return func(phase string, done, total int) { f.Invoke(phase, done, total) }
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// setEngine picks WebGPU when the browser has it and it initialises, else
// the CPU engine; "cpu" forces the CPU engine.
func setEngine(want string) (any, error) {
	// gpu.New blocks on WebGPU promises: never while holding st.mu, which
	// the synchronous cancel() takes on the JS thread.
	st.mu.Lock()
	g := st.gpu
	st.mu.Unlock()
	note := ""
	if want != "cpu" && g == nil {
		if js.Global().Get("navigator").Get("gpu").Truthy() {
			b, err := gpu.New()
			if err != nil {
				note = "WebGPU did not start (" + err.Error() + "); using the CPU engine"
			} else {
				g = b
			}
		} else {
			note = "this browser has no WebGPU; using the CPU engine"
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gpu == nil {
		st.gpu = g
	}
	info := map[string]string{"engine": "cpu", "device": "CPU (WebAssembly, one thread)", "note": note}
	st.be = model.CPU{}
	if want != "cpu" && st.gpu != nil {
		info = map[string]string{"engine": "webgpu", "device": st.gpu.DeviceName()}
		st.be = st.gpu
	}
	if st.sess != nil {
		st.sess.SetBackend(st.be)
	}
	st.engine = info
	return toJS(info)
}

// fileFolder is a source.Folder over the user's File objects, by base name.
type fileFolder struct {
	names []string
	files map[string]js.Value
}

func (f *fileFolder) Names() []string { return f.names }
func (f *fileFolder) Open(name string) (source.Source, error) {
	b, ok := f.files[name]
	if !ok {
		return nil, fmt.Errorf("%s: no such file among the chosen ones", name)
	}
	return newBlobSource(b, name), nil
}

func newFileFolder(list js.Value) (*fileFolder, error) {
	f := &fileFolder{files: map[string]js.Value{}}
	n := list.Get("length").Int()
	for i := 0; i < n; i++ {
		file := list.Index(i)
		name := file.Get("name").String()
		if i := strings.LastIndexAny(name, `/\`); i >= 0 {
			name = name[i+1:]
		}
		if strings.HasPrefix(name, ".") {
			continue
		}
		if _, dup := f.files[name]; dup {
			return nil, fmt.Errorf("two chosen files are named %s: choose one model folder", name)
		}
		f.files[name] = file
		f.names = append(f.names, name)
	}
	if len(f.names) == 0 {
		return nil, fmt.Errorf("no files chosen")
	}
	sort.Strings(f.names)
	return f, nil
}

func open(list js.Value) (any, error) {
	folder, err := newFileFolder(list)
	if err != nil {
		return nil, err
	}
	var zipped source.Folder = folder
	if len(folder.names) == 1 && strings.HasSuffix(strings.ToLower(folder.names[0]), ".zip") {
		src, _ := folder.Open(folder.names[0])
		z, err := source.OpenZip(src)
		if err != nil {
			return nil, err
		}
		zipped = z
	}
	sess, desc, err := app.Open(zipped)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	sess.SetBackend(st.be)
	st.sess = sess
	st.mu.Unlock()
	return toJS(desc)
}

// readCorpora reads [{name, file}] or [File] into memory (corpora are small
// next to a model).
func readCorpora(list js.Value) ([]app.UserCorpus, error) {
	if list.Type() != js.TypeObject {
		return nil, nil
	}
	var out []app.UserCorpus
	for i := 0; i < list.Get("length").Int(); i++ {
		f := list.Index(i)
		size := int64(f.Get("size").Float())
		if size > 256<<20 {
			return nil, fmt.Errorf("%s: a corpus of %d MiB is too large (at most 256 MiB)", f.Get("name").String(), size>>20)
		}
		b := make([]byte, size)
		if err := readBlob(f, b, 0); err != nil {
			return nil, err
		}
		out = append(out, app.UserCorpus{Name: f.Get("name").String(), Data: b})
	}
	return out, nil
}

// sessionOptions is the prologue of the calls that take the job's options
// first: the session, and the options from a[0].
func sessionOptions(a []js.Value) (*app.Session, app.Options, error) {
	s, err := st.session()
	if err != nil {
		return nil, app.Options{}, err
	}
	o, err := pruneOptions(arg(a, 0))
	return s, o, err
}

// pruneOptions reads the page's job options: the plain fields through
// JSON (the parts of the scores, bytes, are left out of it) and the
// user's corpus files.
func pruneOptions(opts js.Value) (app.Options, error) {
	var o app.Options
	if opts.Type() != js.TypeObject {
		return o, fmt.Errorf("prune options: give an object")
	}
	plain := js.Global().Get("Object").Call("assign", js.Global().Get("Object").New(), opts)
	plain.Delete("shards")
	plain.Delete("corpora")
	if err := fromJS(plain, &o); err != nil {
		return o, fmt.Errorf("prune options: %w", err)
	}
	var err error
	o.CorpusData, err = readCorpora(opts.Get("corpora"))
	return o, err
}

func pruneCall(opts js.Value, onProgress js.Value) (any, error) {
	s, err := st.session()
	if err != nil {
		return nil, err
	}
	o, err := pruneOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.Scores, o.Grams, err = readShards(s, opts); err != nil {
		return nil, err
	}
	ctx, done := st.job()
	defer done()
	res, err := s.Prune(ctx, o, progressFn(onProgress))
	if err != nil {
		return nil, cancelled(ctx, err)
	}
	return toJS(res)
}

func cancelled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("cancelled")
	}
	return err
}

func exportCall(sink js.Value, onProgress js.Value) (any, error) {
	s, err := st.session()
	if err != nil {
		return nil, err
	}
	ctx, done := st.job()
	defer done()
	w := &jsWriter{sink: sink}
	if p := progressFn(onProgress); p != nil {
		w.on = func(n int64) { p("export", int(n>>10), 0) }
	}
	bw := &app.Chunks{W: w, Size: 4 << 20}
	if err := s.Export(ctx, bw); err != nil {
		return nil, cancelled(ctx, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, cancelled(ctx, err)
	}
	return toJS(map[string]int64{"bytes": w.n})
}

func main() {
	// Weights stream through one layer at a time; without a soft limit the
	// collector lets garbage grow towards everything read so far, which a
	// tab's 4 GiB of wasm memory cannot afford.
	debug.SetMemoryLimit(1 << 30)
	api := map[string]func(args []js.Value) (any, error){
		"setEngine": func(a []js.Value) (any, error) {
			want := "auto"
			if v := arg(a, 0); v.Type() == js.TypeString {
				want = v.String()
			}
			return setEngine(want)
		},
		"open":            func(a []js.Value) (any, error) { return open(arg(a, 0)) },
		"prune":           func(a []js.Value) (any, error) { return pruneCall(arg(a, 0), arg(a, 1)) },
		"exportTo":        func(a []js.Value) (any, error) { return exportCall(arg(a, 0), arg(a, 1)) },
		"scoreShard":      scoreShardCall,
		"evaluateShard":   evaluateShardCall,
		"mergeEvaluation": mergeEvaluationCall,
		"refitShard":      refitShardCall,
		"useRefit":        useRefitCall,
		"openExpert": func(a []js.Value) (any, error) {
			s, err := st.session()
			if err != nil {
				return nil, err
			}
			b := arg(a, 0)
			if err := s.OpenExpert(newBlobSource(b, "expert")); err != nil {
				return nil, err
			}
			return true, nil
		},
		"useExpert": func(a []js.Value) (any, error) {
			s, err := st.session()
			if err != nil {
				return nil, err
			}
			b := arg(a, 0)
			if err := s.UseExpert(newBlobSource(b, "expert"), arg(a, 1).Truthy()); err != nil {
				return nil, err
			}
			return true, nil
		},
		"estimate": func(a []js.Value) (any, error) {
			s, o, err := sessionOptions(a)
			if err != nil {
				return nil, err
			}
			e, err := s.Estimate(o)
			if err != nil {
				return nil, err
			}
			return toJS(e)
		},
		"validate": func(a []js.Value) (any, error) {
			s, err := st.session()
			if err != nil {
				return nil, err
			}
			var o app.Options
			if err := fromJS(arg(a, 0), &o); err != nil {
				return nil, fmt.Errorf("prune options: %w", err)
			}
			if err := s.Validate(o); err != nil {
				return err.Error(), nil
			}
			return "", nil
		},
		"corpusInfo": func(a []js.Value) (any, error) {
			files, err := readCorpora(arg(a, 0))
			if err != nil {
				return nil, err
			}
			return toJS(app.CorpusInfo(files))
		},
		"limits": func(a []js.Value) (any, error) {
			return toJS(map[string]float64{"maxRatio": job.MaxRatio})
		},
		"evaluate": func(a []js.Value) (any, error) {
			s, err := st.session()
			if err != nil {
				return nil, err
			}
			var o struct {
				MaxDocs   int `json:"maxDocs"`
				MaxTokens int `json:"maxTokens"`
			}
			fromJS(arg(a, 0), &o)
			ctx, done := st.job()
			defer done()
			ev, err := s.Evaluate(ctx, o.MaxDocs, o.MaxTokens, progressFn(arg(a, 1)))
			if err != nil {
				return nil, cancelled(ctx, err)
			}
			return toJS(ev)
		},
		"generate": func(a []js.Value) (any, error) {
			s, err := st.session()
			if err != nil {
				return nil, err
			}
			n := 24
			if v := arg(a, 2); v.Type() == js.TypeNumber {
				n = v.Int()
			}
			var on func(string)
			if f := arg(a, 3); f.Type() == js.TypeFunction {
				on = func(t string) { f.Invoke(t) }
			}
			ctx, done := st.job()
			defer done()
			txt, err := s.Generate(ctx, arg(a, 0).String(), arg(a, 1).String(), n, on)
			if err != nil {
				return nil, cancelled(ctx, err)
			}
			return txt, nil
		},
		"logits": func(a []js.Value) (any, error) {
			s, err := st.session()
			if err != nil {
				return nil, err
			}
			var ids []int
			if err := fromJS(arg(a, 1), &ids); err != nil {
				return nil, err
			}
			v, err := s.Logits(arg(a, 0).String(), ids)
			if err != nil {
				return nil, err
			}
			f := js.Global().Get("Float32Array").New(len(v))
			js.CopyBytesToJS(js.Global().Get("Uint8Array").New(f.Get("buffer")), f32bytes(v))
			return f, nil
		},
		"tokenize": func(a []js.Value) (any, error) {
			s, err := st.session()
			if err != nil {
				return nil, err
			}
			return toJS(s.Tokenize(arg(a, 0).String()))
		},
	}
	obj := js.Global().Get("Object").New()
	for name, fn := range api {
		fn := fn
		obj.Set(name, js.FuncOf(func(this js.Value, args []js.Value) any {
			args = append([]js.Value(nil), args...)
			return promise(func() (any, error) { return fn(args) })
		}))
	}
	obj.Set("cancel", js.FuncOf(func(this js.Value, args []js.Value) any {
		st.mu.Lock()
		for _, c := range st.cancels {
			c()
		}
		st.mu.Unlock()
		return nil
	}))
	obj.Set("memory", js.FuncOf(func(this js.Value, args []js.Value) any {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		v, _ := toJS(map[string]uint64{"heapSys": ms.HeapSys, "heapInuse": ms.HeapInuse, "sys": ms.Sys})
		return v
	}))
	js.Global().Set("cusprun", obj)
	if f := js.Global().Get("cusprunReady"); f.Type() == js.TypeFunction {
		f.Invoke()
	}
	select {}
}
