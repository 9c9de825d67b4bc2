// The page's side of the engine worker (site/worker.js): the same calls as
// the Go API (cusprun.prune, exportTo, evaluate, …) as Promises, with
// callbacks and the export sink relayed as messages. Cancelling terminates
// the worker, which stops any phase at once, however long its current
// step; a fresh worker is then started from the compiled module and the
// sources fetched when the page loaded (no request is made).
'use strict';

class Engine {
  // load fetches and compiles everything a worker needs, once.
  static async load() {
    const [module, glue, body] = await Promise.all([
      WebAssembly.compileStreaming(fetch('cusprun.wasm')),
      fetch('wasm_exec.js').then((r) => r.text()),
      fetch('worker.js').then((r) => r.text()),
    ]);
    const url = URL.createObjectURL(new Blob([glue, '\n', body], { type: 'text/javascript' }));
    return new Engine(module, url);
  }

  constructor(module, url) {
    this.module = module;
    this.url = url;
    this.worker = null;
    this.calls = new Map(); // id -> {resolve, reject, callbacks, sink}
    this.next = 1;
    this.generation = 0; // bumps on every restart
  }

  // start makes a fresh worker and waits for its engine. A server whose
  // policy refuses workers from blob: URLs gets one loaded from worker.js.
  async start() {
    try {
      await this.spawn(this.url);
    } catch (e) {
      if (this.url === 'worker.js') throw e;
      this.url = 'worker.js';
      await this.spawn(this.url);
    }
  }

  spawn(url) {
    if (this.worker) this.worker.terminate();
    const w = new Worker(url, { name: 'cusprun-engine' });
    this.worker = w;
    this.generation++;
    this.ready = new Promise((resolve, reject) => {
      let up = false;
      w.onmessage = (e) => {
        const m = e.data;
        if (m.type === 'ready') { up = true; resolve(); } else if (m.type === 'failed') reject(new Error(m.message));
        else this.onMessage(m);
      };
      w.onerror = (e) => {
        e.preventDefault();
        const err = new Error(e.message || 'the engine worker failed');
        if (!up) reject(err);
        else this.failAll(new Error('the engine stopped: ' + err.message));
      };
    });
    w.postMessage({ type: 'init', module: this.module });
    return this.ready;
  }

  onMessage(m) {
    const c = this.calls.get(m.id);
    if (!c) return;
    if (m.type === 'callback') {
      const f = c.callbacks[m.index];
      if (f) f(...m.args);
    } else if (m.type === 'chunk') {
      Promise.resolve(c.sink.write(m.bytes)).then(
        () => this.worker && this.worker.postMessage({ type: 'ack', id: m.id }),
        (err) => { c.sinkError = err; this.worker && this.worker.postMessage({ type: 'ack', id: m.id }); });
    } else if (m.type === 'result') {
      this.calls.delete(m.id);
      if (m.ok && !c.sinkError) c.resolve(m.value);
      else c.reject(c.sinkError || new Error(m.message));
    }
  }

  // call runs method in the worker. Function arguments become callbacks;
  // for exportTo the first argument is the sink ({write(Uint8Array)}).
  call(method, ...args) {
    const id = this.next++;
    const callbacks = {};
    const wire = args.map((a, i) => {
      if (typeof a === 'function') { callbacks[i] = a; return null; }
      if (method === 'exportTo' && i === 0) return null;
      return a;
    });
    return new Promise((resolve, reject) => {
      if (!this.worker) {
        const err = new Error('cancelled'); err.cancelled = true;
        throw err;
      }
      this.calls.set(id, { resolve, reject, callbacks, sink: method === 'exportTo' ? args[0] : null });
      this.worker.postMessage({ type: 'call', id, method, args: wire, callbacks: Object.keys(callbacks).map(Number) }, Engine.parts(method, args));
    });
  }

  // parts are the buffers a call hands over instead of copying: the parts
  // of a split job (prune's options.shards, useRefit's list), which the
  // page uses once; copying a large model's refit part held the page's
  // thread 671 ms.
  static parts(method, args) {
    const list = method === 'useRefit' ? args[0] : method === 'prune' && args[0] ? args[0].shards : null;
    if (!Array.isArray(list)) return [];
    return [...new Set(list.filter((u) => u instanceof Uint8Array).map((u) => u.buffer))];
  }

  failAll(err) {
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
  }

  // kill stops the worker now: every pending call fails with "cancelled".
  kill() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    const err = new Error('cancelled');
    err.cancelled = true;
    this.failAll(err);
  }

  // wasmBytes asks the worker for its linear memory size (benchmarks).
  wasmBytes() {
    return new Promise((resolve) => {
      if (!this.worker) return resolve(0);
      const w = this.worker;
      const prev = w.onmessage;
      const t = setTimeout(() => { w.onmessage = prev; resolve(0); }, 2000);
      w.onmessage = (e) => {
        if (e.data.type === 'memory') { clearTimeout(t); w.onmessage = prev; resolve(e.data.wasm); } else prev(e);
      };
      w.postMessage({ type: 'memory' });
    });
  }
}

// Team is the CPU engine spread over the machine's cores: the main Engine
// and helper Engines (each a worker with its own copy of the Go engine,
// reading the same File objects), so that scoring and evaluation split
// their documents between them (the engine's scoreShard and evaluateShard;
// the parts add up to exactly what one worker computes). Helpers start on
// first use and stay for the next job; kill stops them all.
class Team {
  constructor(main) {
    this.main = main;
    this.helpers = [];
    this.queue = Promise.resolve(); // start() calls run one after another
  }

  // size is how many workers to use: ?workers=N, else one per core
  // (navigator.hardwareConcurrency), at most 8, and no more than half the
  // machine's memory (navigator.deviceMemory, 4 GiB when unknown) holds:
  // each worker holds a layer's weights in float32 (and the next one,
  // read ahead) plus its share of activations, about 3 layers and 256 MiB,
  // and, with the refit on, a layer's Gram matrix of the FFN inputs
  // (F x F float64 at most) while it refits its layers.
  static size(params, desc, refit = false) {
    const asked = Number(params.get('workers'));
    if (asked >= 1) return Math.min(Math.floor(asked), 16);
    let n = Math.max(1, Math.min(8, (self.navigator && navigator.hardwareConcurrency) || 1));
    if (desc) {
      const attn = desc.hidden * desc.headDim * (2 * desc.heads + 2 * desc.kvHeads);
      const layer = 4 * (attn + 3 * desc.hidden * desc.ffn);
      const gram = refit ? 8 * desc.ffn * desc.ffn : 0;
      const budget = ((self.navigator && navigator.deviceMemory) || 4) * 2 ** 30 / 2;
      n = Math.max(1, Math.min(n, Math.floor(budget / (3 * layer + gram + 2 ** 28))));
    }
    return n;
  }

  // start makes sure n-1 helpers are running (on the CPU engine) and
  // returns the n engines, the main one first.
  start(n) {
    const run = this.queue.then(async () => {
      const fresh = [];
      while (this.helpers.length + fresh.length < n - 1) fresh.push(new Engine(this.main.module, this.main.url));
      await Promise.all(fresh.map(async (e) => { await e.start(); await e.call('setEngine', 'cpu'); }));
      this.helpers.push(...fresh);
      return [this.main, ...this.helpers.slice(0, n - 1)];
    });
    this.queue = run.catch(() => {});
    return run;
  }

  // bring opens the files (and the expert, when given) on helper e unless
  // it has them; one engine's calls run one after another.
  static bring(e, files, expert) {
    const run = (e.queue || Promise.resolve()).then(async () => {
      if (files && e.files !== files) { await e.call('open', files); e.files = files; e.expert = null; }
      if (expert && e.expert !== expert.file) { await e.call('useExpert', expert.file, expert.gguf); e.expert = expert.file; }
    });
    e.queue = run.catch(() => {});
    return run;
  }

  // warm starts the helpers and opens the files on them ahead of a job.
  async warm(n, files) {
    const team = await this.start(n);
    await Promise.all(team.slice(1).map((e) => Team.bring(e, files)));
  }

  // split runs method(args…, i, n, onProgress) on n engines, each as soon
  // as it has the files and expert (the main one has them, so it starts at
  // once), and returns their answers in order. Progress is the sum over
  // the parts, reported once every part has said how much it has to do.
  async split(n, files, expert, method, args, onProgress) {
    return this.run(await this.start(n), files, expert, method, args, onProgress);
  }

  // splitHelpers is split over k helpers only, the main engine left out
  // (it runs on the GPU: the helpers share the refit on the CPU engine).
  async splitHelpers(k, files, expert, method, args, onProgress) {
    return this.run((await this.start(k + 1)).slice(1), files, expert, method, args, onProgress);
  }

  // run is split over the given engines, part i on team[i].
  async run(team, files, expert, method, args, onProgress) {
    const n = team.length;
    const done = new Array(n).fill(0), total = new Array(n).fill(0), heard = new Array(n).fill(false);
    const sum = (a) => a.reduce((x, y) => x + y, 0);
    const t0 = performance.now();
    const took = (Team.took[method] = new Array(n).fill(0)); // ms per part, for benchmarks
    return Promise.all(team.map(async (e, i) => {
      if (e !== this.main) await Team.bring(e, files, expert);
      const v = await e.call(method, ...args, i, n, (phase, d, t) => {
        done[i] = d; total[i] = t; heard[i] = true;
        if (onProgress && heard.every(Boolean)) onProgress(phase, sum(done), sum(total));
      });
      took[i] = Math.round(performance.now() - t0);
      return v;
    }));
  }

  kill() {
    for (const e of this.helpers) e.kill();
    this.helpers = [];
    this.queue = Promise.resolve();
  }
}

Team.took = {}; // the last split of each method: milliseconds until each part was back
