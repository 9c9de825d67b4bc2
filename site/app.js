// cusprun's page: the Go engine (cusprun.wasm) runs in a dedicated Web
// Worker (engine.js, worker.js), so this thread only renders. The model the
// user picks is read straight from disk by the worker (File objects are
// handed to it); the expert is written to the browser's private file system
// (or memory when there is none) and offered as a download as soon as it is
// verified; evaluation and the generation preview come after and can be
// cancelled or skipped without losing it. No request leaves this origin;
// after the page has loaded, none is made at all.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const PHASES = [
  { id: 'prepare', name: 'Reading calibration text' },
  { id: 'score', name: 'Scoring units, layer by layer' },
  { id: 'select', name: 'Choosing what to remove' },
  { id: 'compensate', name: 'Refitting the kept weights', optional: true },
  { id: 'export', name: 'Writing the expert' },
  { id: 'verify', name: 'Checking what was written' },
  { id: 'evaluate', name: 'Measuring perplexity', optional: true },
];

const PROMPTS = {
  en: 'The doctor told the patient that', de: 'Der Vertrag regelt, dass', zh: '今天的天气', fr: 'Le médecin a expliqué que',
  es: 'El contrato establece que', ja: '今日は', ru: 'Врач сказал, что', ar: 'قال الطبيب إن',
  it: 'Il contratto stabilisce che', pt: 'O médico explicou que', ko: '오늘 날씨는', hi: 'डॉक्टर ने बताया कि',
  vi: 'Bác sĩ nói rằng', th: 'แพทย์อธิบายว่า', any: 'The main idea is that',
};

const state = {
  desc: null,       // the opened model's description
  files: null,      // the opened model's File objects (re-handed to a restarted worker)
  result: null,     // the last prune result
  output: null,     // {file, url, name, gguf}
  running: false,   // a job or a follow-up (evaluation, preview) is running
  phase: '',        // 'job' (until verified), 'evaluate', 'preview'
  engine: null,     // what the worker said about its engine
  maxRatio: 0.9,
  stall: { max: 0, samples: 0 }, // the main thread's longest timer gap while running (ms)
};
window.cusprunState = state; // for tests and the curious
let engine = null;  // the Engine (engine.js)
let team = null;    // the CPU engine's helper workers (engine.js Team)

// workers is how many workers a CPU-engine job uses (one per core); WebGPU
// jobs run in the one worker that holds the device.
function workers() {
  if (!state.engine || state.engine.engine !== 'cpu') return 1;
  return Team.size(params, state.desc, $('compensate').checked);
}

function setState(s) { document.body.dataset.state = s; }

function fmtCount(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' B';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + ' M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + ' k';
  return String(n);
}
function fmtBytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(0) + ' KiB';
  return n + ' bytes';
}
// fmtTime prints seconds as m:ss (h:mm:ss past an hour), rounding the whole
// number of seconds first so that 299.6 s is 5:00, never 4:60.
function fmtTime(s) {
  if (!isFinite(s) || s < 0) return '…';
  const t = Math.round(s);
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  const ss = String(sec).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
window.cusprunFmtTime = fmtTime; // tested
function fmtPPL(x) {
  if (!isFinite(x)) return '—';
  if (x >= 1e5) return x.toExponential(2);
  return x.toFixed(x < 100 ? 2 : 0);
}
function fill(dl, rows) {
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    dl.append(dt, dd);
  }
}

// plainError puts a reason in plain words before the engine's technical
// message: {plain, detail}.
function plainError(msg) {
  msg = String(msg || '');
  const file = (re, dflt) => { const m = re.exec(msg); return m ? m[1] : dflt; };
  const rules = [
    [/bad magic/i, () => `${file(/([^\s:]+\.gguf)/i, 'This file')} is not a GGUF model: it does not start the way every GGUF file does.`],
    [/tensor "([^"]+)".*run past the end/i, (m) => `${file(/([^\s:"]+\.safetensors)/i, 'model.safetensors')} is incomplete: the file ends before tensor ${m[1]}. It may still be downloading, or it was cut short.`],
    [/unexpected EOF|truncated|too short/i, () => 'A model file is incomplete: it ends sooner than its header says. It may still be downloading, or it was cut short.'],
    [/no config\.json|config\.json.*(missing|no such)|missing config/i, () => 'This folder has no config.json: choose every file of a Hugging Face model folder, or one .gguf file.'],
    [/tokenizer/i, () => "The model's tokenizer could not be read: the folder needs its tokenizer.json (or a .gguf that carries one)."],
    [/unsupported|unknown (family|architecture|model_type)/i, () => 'This kind of model is not supported: cusprun prunes Llama, Qwen and Phi models.'],
    [/no files chosen/i, () => 'No files were chosen.'],
    [/two chosen files are named/i, () => 'Two of the chosen files have the same name: choose the files of one model folder.'],
    [/out of memory|memory access out of bounds|allocation/i, () => 'The browser ran out of memory for this model. Close other tabs, or try a smaller model.'],
    [/WebGPU|device (was )?lost|GPU/i, () => 'The graphics card stopped working for this job. Choose "CPU only" under More options and try again.'],
    [/ratio .* out of range/i, () => msg.replace(/^ratio [^:]*: /i, 'The prune ratio must be ')],
  ];
  for (const [re, f] of rules) {
    const m = re.exec(msg);
    if (m) return { plain: f(m), detail: msg };
  }
  return { plain: '', detail: msg };
}

function showError(el, prefix, msg) {
  el.replaceChildren();
  if (!msg && !prefix) { el.hidden = true; return; }
  const { plain, detail } = msg ? plainError(msg) : { plain: '', detail: '' };
  const head = document.createElement('strong');
  head.textContent = (prefix ? prefix + ' ' : '') + (plain || detail);
  el.append(head);
  if (plain && detail && plain !== detail) {
    const d = document.createElement('span'); d.className = 'detail'; d.textContent = 'Details: ' + detail;
    el.append(d);
  }
  el.hidden = false;
}

// ---------------------------------------------------------------- engine

// engineLine says which engine runs, naming a software GPU as such.
function engineLine(e) {
  const el = $('engine');
  if (e.engine === 'webgpu' && e.software) {
    el.textContent = `Engine: WebGPU on ${e.software}, a software GPU: it runs on the processor and is slower than the CPU engine.`;
    el.className = 'cpu';
  } else if (e.engine === 'webgpu') {
    const dev = (e.device || '').replace(/\s*\(webgpu\)$/, '');
    el.textContent = 'Engine: WebGPU' + (dev && !/^WebGPU Adapter$/i.test(dev) ? ` (${dev})` : '') + '. The heavy math runs on your graphics card.';
    el.className = 'gpu';
  } else {
    const n = workers();
    const how = n > 1 ? `${n} background workers, one per core` : 'one background worker';
    el.textContent = `Engine: the CPU (WebAssembly, ${how}). ${e.note ? e.note + ', so the CPU engine is used.' : 'Slower than a real graphics card, but it works everywhere.'}`;
    el.className = 'cpu';
  }
  el.dataset.engine = e.engine;
  el.dataset.software = e.software || '';
}

function engineWant() { return $('engine-choice').value; }

// startEngine (re)starts the worker and brings it to where the page is:
// the engine chosen, the model opened, the expert (when there is one) ready
// for the preview.
async function startEngine() {
  await engine.start();
  const e = await engine.call('setEngine', engineWant());
  state.engine = e;
  engineLine(e);
  if (state.files) await engine.call('open', state.files);
  if (state.output) await engine.call('useExpert', state.output.file, state.output.gguf);
  // the CPU engine's helper workers start now, so that a job never waits
  // for them (a failure here shows when a job runs)
  if (workers() > 1) team.warm(workers(), state.files).catch(() => {});
}

async function chooseEngine() {
  $('engine').textContent = 'Starting the engine…';
  $('engine').className = '';
  try {
    state.engine = await engine.call('setEngine', engineWant());
    engineLine(state.engine);
  } catch (e) {
    showError($('model-error'), 'The engine could not start:', e.message);
  }
}

// ---------------------------------------------------------------- model

// sourceName names the model in the expert's card as the CLI does (the
// folder's name, or the file's for one .gguf or .zip); '' when the files
// were chosen one by one.
function sourceName(files, folder) {
  if (folder) return folder;
  const rel = files[0] && files[0].webkitRelativePath;
  if (rel && rel.includes('/')) return rel.split('/')[0];
  return files.length === 1 ? files[0].name : '';
}

async function openFiles(files, folder) {
  files = [...files].filter((f) => !f.name.startsWith('.'));
  state.sourceName = sourceName(files, folder);
  if (!files.length || state.running) return;
  showError($('model-error'), '', '');
  $('model-info').hidden = true;
  $('prune').disabled = true;
  $('prune-hint').textContent = 'Reading the model…';
  try {
    await engineReady;
    const d = await engine.call('open', files);
    state.desc = d;
    state.files = files;
    const size = files.reduce((a, f) => a + f.size, 0);
    fill($('model-info'), [
      ['Family', d.family],
      ['Parameters', fmtCount(d.params)],
      ['Layers', String(d.layers)],
      ['Width', `${d.hidden} hidden, ${d.ffn} feed-forward, ${d.heads} heads (${d.kvHeads} key/value)`],
      ['Weights', `${d.dtype}, ${d.format === 'gguf' ? 'GGUF' : 'safetensors'}, ${fmtBytes(size)}`],
      ['Vocabulary', `${d.vocab} tokens`],
    ]);
    $('model-info').hidden = false;
    $('prune').disabled = false;
    $('prune-hint').textContent = 'Ready. Choose the expert, then press Prune.';
    if (d.format === 'gguf') $('format').value = 'gguf';
    setState('loaded');
    engineLine(state.engine); // the worker count can depend on the model's size
    // the CPU engine's helper workers open the model while the user
    // chooses the expert (a failure here shows when the job runs)
    if (workers() > 1) team.warm(workers(), files).catch(() => {});
  } catch (e) {
    state.desc = null;
    state.files = null;
    showError($('model-error'), 'This model could not be opened:', e.message);
    $('prune-hint').textContent = 'Choose a model first.';
    setState('start');
  }
}

// Files of a dropped folder (or files), through the entries API.
async function droppedFiles(dt) {
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      out.push(await new Promise((res, rej) => entry.file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) if (e.isFile) await walk(e); // the folder's own files only
      }
    }
  };
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return { files: [...dt.files] };
  for (const e of entries) await walk(e);
  return { files: out, folder: entries.length === 1 && entries[0].isDirectory ? entries[0].name : '' };
}

// ---------------------------------------------------------------- progress

// Progress shows every phase and an overall bar. The bar is weighted by
// each phase's expected time: scoring's is measured as it runs (layer
// passes per second), evaluation's follows from it by the ratio of
// multiply-adds the engine reports (job.EvalSize keeps it at or below 1),
// writing and checking from the bytes at the rate the export is measured
// at. Estimates come only from measured throughput; the remaining time
// shown never counts up while work proceeds.
class Progress {
  constructor(measure, compensate) {
    this.t0 = performance.now();
    state.etaLog = []; // [time ms, remaining s shown], for the tests
    this.rows = {};
    this.measure = measure;
    this.compensate = compensate;
    this.eta = Infinity;   // the last remaining time shown (s) and when
    this.etaAt = 0;
    const ol = $('phases');
    ol.replaceChildren();
    for (const p of PHASES) {
      const li = document.createElement('li');
      li.className = 'waiting';
      li.dataset.phase = p.id;
      const name = document.createElement('span'); name.className = 'name'; name.textContent = p.name;
      const bar = document.createElement('progress'); bar.max = 1; bar.value = 0; bar.setAttribute('aria-label', p.name);
      const st = document.createElement('span'); st.className = 'state'; st.textContent = (p.id === 'evaluate' && !measure) || (p.id === 'compensate' && !compensate) ? 'skipped (not chosen)' : 'waiting';
      li.append(name, bar, st);
      if (p.id === 'evaluate') {
        const skip = document.createElement('button');
        skip.type = 'button'; skip.className = 'skip'; skip.textContent = 'Skip'; skip.hidden = true; skip.id = 'skip-eval';
        skip.setAttribute('aria-label', 'Skip the perplexity measurement (the expert stays downloadable)');
        skip.addEventListener('click', () => cancelRunning());
        li.append(skip);
      }
      ol.append(li);
      this.rows[p.id] = { li, bar, st, start: 0, end: 0, f: 0, done: 0, total: 0 };
    }
    // expected seconds per phase, refined as measurements come in
    this.expect = { prepare: 0.5, score: NaN, select: 0.2, compensate: compensate ? NaN : 0, export: NaN, verify: NaN, evaluate: measure ? NaN : 0 };
    this.evalRatio = 1; // job.EvalSize keeps evaluation at or below scoring
    this.timer = setInterval(() => this.render(), 250);
    this.update('prepare', 0, 1);
  }

  // costs sets what the engine says about the job's size: the evaluation's
  // multiply-adds against scoring's, and the expert's expected bytes.
  costs(evalRatio, bytes) { this.evalRatio = evalRatio; this.bytes = bytes; this.refine(); }

  update(id, done, total) {
    const r = this.rows[id];
    if (!r) return;
    const now = performance.now();
    for (const p of PHASES) { // every earlier phase is finished
      if (p.id === id) break;
      if (this.rows[p.id].li.classList.contains('active')) this.finish(p.id);
    }
    if (!r.start) {
      r.start = now; r.li.className = 'active';
      r.bar.removeAttribute('value'); // moving (indeterminate) until the first step is done
      if (hooks.onPhase) hooks.onPhase(id);
    }
    r.done = done; r.total = total;
    if (total > 0 && done > 0) {
      r.f = Math.min(1, done / total);
      r.bar.value = r.f;
      if (!r.firstAt) { r.firstAt = now; r.firstF = r.f; }
      r.lastAt = now;
    }
    this.current = id;
    this.refine();
    this.render();
  }

  // refine recomputes the expected time of every phase from what has been
  // measured so far.
  refine() {
    const s = this.rows.score;
    if (s.f > 0) {
      // throughput over the passes done (the first one includes start-up)
      const el = ((s.end || s.lastAt) - s.start) / 1000;
      this.expect.score = el / s.f;
    }
    if (this.measure && isFinite(this.expect.score) && this.evalRatio) this.expect.evaluate = this.expect.score * this.evalRatio;
    // where the scoring pass kept the Gram matrices the refit only solves
    // (about a tenth of scoring); its own pass costs about what scoring
    // does, plus the solves, in each worker (each runs all the text
    // through, and refits every n-th layer), so n workers' scoring is n
    // times shorter than it; the measured rate takes over once it starts
    const cp = this.rows.compensate;
    if (this.compensate && cp.f > 0 && !cp.end) this.expect.compensate = ((cp.lastAt - cp.start) / 1000) / cp.f;
    else if (this.compensate && !cp.start && isFinite(this.expect.score)) {
      const n = this.workers || 1, est = this.estimate;
      if (est && est.score_macs > 0) {
        // multiply-adds at scoring's measured rate per worker: the matrices
        // kept by scoring leave the solves (the main worker's); a pass of
        // its own is the forward in every worker and, split over them,
        // the Gram sums and solves
        // (on the GPU engine the Gram sums and solves are wasm's, at about
        // WASM_MACS, in the main worker or shared by refitWorkers CPU ones)
        const [fwd, grams, solves] = est.refit_macs;
        const rate = est.score_macs / n / this.expect.score;
        if (this.onePass) this.expect.compensate = solves / rate;
        else if (this.refitWorkers) this.expect.compensate = (fwd + (grams + solves) / this.refitWorkers) / WASM_MACS;
        else if (this.gpu) this.expect.compensate = fwd / rate + (grams + solves) / WASM_MACS;
        else this.expect.compensate = (fwd + (grams + solves) / n) / rate;
      } else this.expect.compensate = this.expect.score * (this.onePass ? 0.1 : 1.5 * n);
    }
    const ex = this.rows.export;
    if (ex.end) this.expect.export = (ex.end - ex.start) / 1000;
    else if (ex.f > 0) this.expect.export = ((ex.lastAt - ex.start) / 1000) / ex.f;
    else if (isFinite(this.expect.score) && this.bytes) this.expect.export = Math.max(0.5, this.bytes / 40e6);
    // checking reads back and compares what was written: about as long
    if (isFinite(this.expect.export)) this.expect.verify = this.expect.export * 0.8;
    const ev = this.rows.evaluate;
    if (ev.f > 0 && !ev.end) this.expect.evaluate = ((ev.lastAt - ev.start) / 1000) / ev.f;
  }

  // phaseLeft is the expected remaining seconds of one phase.
  phaseLeft(id, now) {
    const r = this.rows[id], x = this.expect[id];
    if (r.end) return 0;
    if (!isFinite(x)) return NaN;
    if (!r.start) return x;
    return Math.max(0, x * (1 - r.f) - (r.f > 0 ? (now - r.lastAt) / 1000 : (now - r.start) / 1000));
  }

  render() {
    const now = performance.now();
    let left = 0, total = 0, known = true;
    for (const p of PHASES) {
      const l = this.phaseLeft(p.id, now);
      if (!isFinite(l)) { known = false; continue; }
      left += l;
      total += this.rows[p.id].end ? (this.rows[p.id].end - this.rows[p.id].start) / 1000 : this.expect[p.id];
    }
    for (const p of PHASES) this.renderRow(p.id, now);
    const el = (now - this.t0) / 1000;
    let text = fmtTime(el) + ' elapsed';
    if (known) {
      // never counts up: a new estimate only replaces a larger one, and the
      // one shown runs down with the clock
      const running = Math.max(0, this.eta - (now - this.etaAt) / 1000);
      if (left < running || !isFinite(this.eta)) { this.eta = left; this.etaAt = now; }
      const shown = Math.max(0, this.eta - (now - this.etaAt) / 1000);
      state.etaLog.push([Math.round(now), Math.round(shown * 10) / 10]);
      text += shown > 0.5 ? ` · about ${fmtTime(shown)} left` : ' · finishing';
      $('overall').value = total > 0 ? Math.min(1, (total - left) / total) : 0;
    } else {
      text += ' · estimating the time left…';
      $('overall').removeAttribute('value');
    }
    $('overall-text').textContent = text;
  }

  renderRow(id, now) {
    const r = this.rows[id];
    if (!r.start || r.end || r.stopped) return;
    // between two steps (a layer pass of a large model takes seconds) the
    // bar moves on at the pace measured so far, never past the next step
    if (r.total > 0 && r.done > 0 && r.done < r.total) {
      const per = Math.max(1, (r.lastAt - r.start) / r.done);
      r.bar.value = (r.done + Math.min(0.9, (now - r.lastAt) / per)) / r.total;
    }
    const el = (now - r.start) / 1000;
    let s = fmtTime(el) + ' elapsed';
    if (id === 'score' && r.total) s = `${r.done} of ${r.total} layer passes · ` + s;
    if (id === 'evaluate' && r.total) s = `${r.done} of ${r.total} batches · ` + s;
    if (id === 'compensate' && r.total) s = `${r.done} of ${r.total} layer passes · ` + s;
    if (r.note) s = r.note + ' · ' + s;
    r.st.textContent = s;
  }

  finish(id, note) {
    const r = this.rows[id];
    const now = performance.now();
    if (!r.start) r.start = now;
    r.end = now; r.f = 1; r.bar.value = 1;
    r.li.className = 'done';
    if (note) r.note = note;
    r.st.textContent = 'done in ' + fmtTime((now - r.start) / 1000) + (r.note ? ' · ' + r.note : '');
    if (id === 'evaluate') $('skip-eval').hidden = true;
    this.refine();
    this.render();
  }

  // stopPhase marks one phase as stopped (cancelled, skipped, failed).
  stopPhase(id, msg) {
    const r = this.rows[id];
    if (!r) return;
    r.stopped = true; r.end = r.end || performance.now();
    r.li.className = 'stopped';
    if (!r.bar.hasAttribute('value')) r.bar.value = 0;
    r.st.textContent = msg;
    if (id === 'evaluate') $('skip-eval').hidden = true;
  }

  stop(msg) {
    clearInterval(this.timer);
    if (msg && this.current && !this.rows[this.current].end) this.stopPhase(this.current, msg);
    for (const p of PHASES) {
      const r = this.rows[p.id];
      if (!r.start && msg) r.st.textContent = '—';
    }
  }

  elapsed() { return (performance.now() - this.t0) / 1000; }
}

// ---------------------------------------------------------------- output sinks

// The expert goes to the origin-private file system (disk, no prompt) when
// the browser has it, else into Blob parts in memory; never into the wasm
// heap. Nothing is offered until it is whole and verified.
const PARTIAL = 'cusprun-expert.partial';

async function opfsRoot() {
  if (params.get('sink') === 'memory') return null;
  try {
    if (!navigator.storage || !navigator.storage.getDirectory) return null;
    return await navigator.storage.getDirectory();
  } catch { return null; }
}

async function makeSink() {
  const root = await opfsRoot();
  if (root) {
    try {
      const fh = await root.getFileHandle(PARTIAL, { create: true });
      const ws = await fh.createWritable({ keepExistingData: false });
      return {
        where: 'disk',
        write: (u8) => ws.write(u8),
        async finish() { await ws.close(); return await fh.getFile(); },
        async abort() { try { await ws.abort(); } catch {} try { await root.removeEntry(PARTIAL); } catch {} },
      };
    } catch { /* fall through to memory */ }
  }
  let blob = new Blob([]);
  let parts = [], pending = 0;
  return {
    where: 'memory',
    write(u8) {
      parts.push(u8); pending += u8.byteLength;
      if (pending >= 64 << 20) { blob = new Blob([blob, ...parts]); parts = []; pending = 0; }
    },
    async finish() { blob = new Blob([blob, ...parts]); parts = []; return blob; },
    async abort() { blob = null; parts = []; },
  };
}

async function clearOutput() {
  if (state.output && state.output.url) URL.revokeObjectURL(state.output.url);
  state.output = null;
  const a = $('download');
  a.removeAttribute('href');
  a.setAttribute('aria-disabled', 'true');
  const root = await opfsRoot();
  if (root) { try { await root.removeEntry(PARTIAL); } catch {} }
}

// ---------------------------------------------------------------- the job

// Test hooks: hooks.onPhase(id) runs when a phase starts (the cancel
// test presses Cancel there, in every phase).
const hooks = {};
window.cusprunHooks = hooks;

// describeCorpora says, as soon as calibration files are chosen, what a
// prune will read from them (documents and language tags per file), or the
// one line it would stop with.
async function describeCorpora() {
  const files = [...$('corpus').files];
  const out = $('corpus-info');
  out.hidden = !files.length;
  out.classList.remove('error');
  if (!files.length) { out.textContent = ''; return; }
  out.textContent = 'reading…';
  try {
    await engineReady;
    const info = await engine.call('corpusInfo', files);
    out.textContent = info.map(describeCorpus).join(' · ');
    out.classList.toggle('error', info.some((f) => f.error));
  } catch (e) {
    out.textContent = e.message;
    out.classList.add('error');
  }
}

function describeCorpus(f) {
  if (f.error) return f.error;
  const langs = f.tags.language || {};
  const tagged = Object.entries(langs).filter(([k]) => k).map(([k, n]) => `${k} ${n}`);
  const docs = `${f.name}: ${f.docs} document${f.docs === 1 ? '' : 's'}`;
  if (!tagged.length) return `${docs}, without a language tag (they count for the language you choose)`;
  return `${docs} (${tagged.join(', ')}${langs[''] ? `, ${langs['']} untagged` : ''})`;
}

// chosenLanguage is the language list's choice, or what is typed for
// another language (a name or a code; the engine maps names to codes).
function chosenLanguage() {
  return $('language').value === 'other' ? $('language-other').value.trim() : $('language').value;
}

function options() {
  return {
    language: chosenLanguage(), domain: $('domain').value, task: $('task').value,
    ratio: Number($('ratio').value), method: $('method').value, placement: $('placement').value,
    format: $('format').value, compensate: $('compensate').checked, reselect: $('reselect').checked ? 0 : 1, quant: $('quant').value, vocab: $('vocab').value, corpora: [...$('corpus').files], noBuiltin: $('only-mine').checked, sourceName: state.sourceName || '',
    // the CLI's --max-tokens and --max-docs (tests pass them to compare)
    maxTokens: Number(params.get('maxtokens') || 0), maxDocs: Number(params.get('maxdocs') || 0),
  };
}

function lockForm(on) {
  for (const id of ['files', 'folder', 'language', 'language-other', 'domain', 'task', 'ratio', 'method', 'placement', 'format', 'quant', 'vocab', 'corpus', 'only-mine', 'engine-choice', 'generate', 'measure', 'compensate'])
    $(id).disabled = on;
  $('reselect').disabled = on || !$('compensate').checked; // the reselection is a part of the refit
  $('prune').disabled = on || !state.desc;
  $('cancel').disabled = !on;
  $('cancel').textContent = 'Cancel';
  $('prune-hint').textContent = on ? 'Working. Cancel stops at once: nothing is offered until the expert is complete and checked.'
    : state.desc ? 'Ready. Choose the expert, then press Prune.' : 'Choose a model first.';
}

// bytesPerParam estimates the output's bytes per parameter (for the export
// bar): the asked tensor types, or the source's.
const QUANT_BYTES = { f32: 4, f16: 2, bf16: 2, q8_0: 1.07, q6_k: 0.82, q5_k_m: 0.71, q4_k_m: 0.61, q4_0: 0.57, iq4_nl: 0.57, iq4_xs: 0.54 };
function bytesPerParam(dtype, format, quant) {
  if (quant && QUANT_BYTES[quant]) return QUANT_BYTES[quant];
  if (format !== 'gguf' && /Q\d/i.test(dtype)) return 2; // an HF folder from a quantized source is bf16
  if (/F32/i.test(dtype)) return 4;
  if (/Q8/i.test(dtype)) return 1.07;
  if (/Q6/i.test(dtype)) return 0.82;
  if (/Q5/i.test(dtype)) return 0.71;
  if (/Q[234]/i.test(dtype)) return 0.6;
  return 2;
}

// The stall meter, three clocks while work runs: a timer on this thread
// ticking every 20 ms (the longest gap beyond the period is how long the
// page could not respond), the longest task this thread ran (Long Tasks
// API: work of the page's own), and the same timer in an idle worker (a
// control: a gap there means the machine gave no thread the processor, not
// that the page was busy).
let stallTimer = null, stallLast = 0, stallObs = null, stallCtl = null;
const CONTROL = 'let l=performance.now(),m=0;setInterval(()=>{const n=performance.now();m=Math.max(m,n-l-20);l=n},20);' +
  'setInterval(()=>postMessage(m),250);';
function stallStart() {
  state.stall = { max: 0, samples: 0, where: '', longestTask: 0, control: 0, gaps: [], tasks: [] };
  stallLast = performance.now();
  clearInterval(stallTimer);
  stallTimer = setInterval(() => {
    const now = performance.now();
    const gap = now - stallLast - 20;
    if (gap > 100 && state.stall.gaps.length < 500) state.stall.gaps.push([stallLast, now]);
    if (gap > state.stall.max) {
      state.stall.max = gap;
      state.stall.where = (current && current.prog && current.prog.current) || state.phase; // the phase it happened in
    }
    state.stall.samples++;
    stallLast = now;
  }, 20);
  try {
    stallObs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        state.stall.longestTask = Math.max(state.stall.longestTask, e.duration);
        if (state.stall.tasks.length < 500) state.stall.tasks.push([e.startTime, e.duration]);
      }
    });
    stallObs.observe({ type: 'longtask' });
  } catch { stallObs = null; }
  try {
    stallCtl = new Worker(URL.createObjectURL(new Blob([CONTROL], { type: 'text/javascript' })));
    stallCtl.onmessage = (e) => { state.stall.control = Math.max(state.stall.control, e.data); };
  } catch { stallCtl = null; }
}
function stallStop() {
  clearInterval(stallTimer); stallTimer = null;
  if (stallObs) stallObs.disconnect();
  if (stallCtl) stallCtl.terminate();
  stallObs = stallCtl = null;
}

let current = null; // the running job: {prog, sink, cancelled}

// cancelRunning stops whatever runs now. The worker is terminated, which
// stops it at once in any phase; a fresh one is started and brought back
// to the opened model (and the verified expert, when there is one).
function cancelRunning() {
  if (!state.running || !current || current.cancelled) return;
  current.cancelled = true;
  current.cancelledAt = performance.now();
  $('cancel').disabled = true;
  $('cancel').textContent = 'Cancelling…';
  $('prune-hint').textContent = 'Cancelling…';
  setState('cancelling');
  engine.kill();
  if (team) team.kill();
}

async function restartEngine() {
  $('prune-hint').textContent = 'Restarting the engine…';
  try {
    await startEngine();
  } catch (e) {
    showError($('job-error'), 'The engine could not restart:', e.message);
  }
}

// WASM_MACS is about how many float64 multiply-adds one wasm thread does
// in a second on the refit's solves (1.9e9 to 2.2e9 measured on a 2-core
// machine, BENCHMARKS.md): the estimate where scoring's rate is a GPU's.
const WASM_MACS = 2e9;

// gpuRefitApart says a refit on the GPU engine goes to the CPU workers:
// there the forward pass is the GPU's but the Gram sums and solves run in
// the main worker's one wasm thread, so k CPU workers that each run the
// forward and a k-th of the rest finish sooner when the forward costs less
// than (1 - 1/k) of the rest (job.RefitMACs; large models, where the
// solves dominate). ?refitapart=1 takes that route for any model.
function gpuRefitApart(o) {
  if (!o.compensate || !state.engine || state.engine.engine === 'cpu') return false;
  if (params.get('refitapart') === '1') return true;
  const k = Team.size(params, state.desc, true), est = current && current.prog && current.prog.estimate;
  if (k < 2 || !est) return false;
  const [fwd, grams, solves] = est.refit_macs;
  return fwd < (grams + solves) * (1 - 1 / k);
}

// refitOnWorkers runs a refit the prune left apart (res.refit 'apart') on
// the workers split(method, args) spreads it over, each refitting a part
// of the layers, and joins the parts into the main worker's job.
async function refitOnWorkers(res, o, prog, split) {
  if (res.refit !== 'apart') return;
  prog.update('compensate', 0, 1);
  const t0 = performance.now();
  const plan = { keep_ffn: res.plan.keep_ffn, keep_groups: res.plan.keep_groups, pool_ffn: res.plan.pool_ffn || null };
  const parts = await split('refitShard', [o, plan]);
  Object.assign(res, await engine.call('useRefit', parts, (performance.now() - t0) / 1000));
}

async function runJob() {
  if (state.running || !state.desc) return;
  const o = options();
  const bad = $('language').value === 'other' && !o.language
    ? 'Type the language’s name or code (Nederlands, tr, pl), or choose one from the list.'
    : await engine.call('validate', o);
  if (bad) { $('step-progress').hidden = false; showError($('job-error'), '', bad); return; }
  state.running = true;
  state.phase = 'job';
  state.result = null;
  lockForm(true);
  setState('running');
  $('step-result').hidden = true;
  $('step-progress').hidden = false;
  showError($('job-error'), '', '');
  await clearOutput();
  const measure = $('measure').checked;
  const job = { prog: null, sink: null, cancelled: false };
  current = job;
  const prog = new Progress(measure, o.compensate);
  prog.gpu = !!state.engine && state.engine.engine !== 'cpu';
  job.prog = prog;
  // the job's size, so that the refit's estimate is there before it starts
  try { prog.estimate = await engine.call('estimate', o); } catch { prog.estimate = null; }
  prog.costs(1, state.desc.params * (1 - o.ratio) * bytesPerParam(state.desc.dtype, o.format, o.quant));
  stallStart();
  const onProgress = (phase, done, total) => prog.update(phase, done, total);
  const times = {};
  let lap = performance.now();
  const mark = (k) => { const t = performance.now(); times[k] = (t - lap) / 1000; lap = t; };
  let res;
  try {
    const n = workers();
    // the CPU workers keep their scoring passes' Gram matrices in memory
    // when n parts of them fit (the engine says how many): the refit then
    // only solves; otherwise it is a pass of its own, shared by the workers
    prog.onePass = state.engine && state.engine.engine === 'cpu' && n <= (state.desc.gramWorkers || 0);
    if (n > 1) {
      // each worker scores a part of the calibration text; the main one
      // prunes from all the parts (its own progress starts at 'select')
      prog.rows.score.note = `${n} workers`;
      prog.workers = n;
      // where the matrices do not fit, each worker refits every n-th layer
      // after the main one has planned (the same weights to the bit)
      // (?refitapart=1 takes that route for any model)
      if (params.get('refitapart') === '1') prog.onePass = false;
      const refitApart = o.compensate && !prog.onePass;
      if (o.compensate) prog.rows.compensate.note = `${n} workers`;
      const shards = await team.split(n, state.files, null, 'scoreShard', [o], onProgress);
      res = await engine.call('prune', { ...o, shards, refitApart }, (p, d, t) => { if (p !== 'prepare' && p !== 'score') onProgress(p, d, t); });
      await refitOnWorkers(res, o, prog, (m, args) => team.split(n, state.files, null, m, args, onProgress));
    } else if (gpuRefitApart(o)) {
      // on the GPU engine the refit's solves would run in one wasm thread:
      // for a large model the CPU workers share it instead, each running
      // the text through on the CPU and refitting every k-th layer
      const k = Team.size(params, state.desc, true);
      prog.refitWorkers = k;
      prog.rows.compensate.note = `${k} CPU workers`;
      res = await engine.call('prune', { ...o, refitApart: true }, onProgress);
      await refitOnWorkers(res, o, prog, (m, args) => team.splitHelpers(k, state.files, null, m, args, onProgress));
    } else {
      res = await engine.call('prune', o, onProgress);
    }
    res.workers = n;
    mark('score');
    if (res.seconds && res.seconds.compensate) {
      // the engine's own timing splits the refit out of the prune call
      times.compensate = res.seconds.compensate;
      times.score -= res.seconds.compensate;
    }
    state.result = res;
    res.times = times;
    const [layer, head, score] = res.cost_macs;
    const [ed, et] = res.eval_size;
    const maxDocs = Number(params.get('evaldocs') || 0), maxTokens = Number(params.get('evaltokens') || 0);
    const evalTokens = 2 * (maxDocs || ed) * (maxTokens || et); // at most: two slices
    const expected = res.params_after * bytesPerParam(state.desc.dtype, o.format, o.quant);
    prog.costs(score > 0 ? 2 * evalTokens * (layer + head) / score : 1, expected);
    // export
    job.sink = await makeSink();
    prog.rows.export.note = job.sink.where === 'disk' ? 'to this browser\'s private storage' : 'in memory';
    prog.update('export', 0, 1);
    await engine.call('exportTo', job.sink, (_, kib) => prog.update('export', Math.min(kib * 1024, expected * 0.99), expected));
    const file = await job.sink.finish();
    prog.finish('export', fmtBytes(file.size));
    mark('export');
    // verify: re-open what was written and compare every tensor with the plan
    prog.update('verify', 0, 1);
    await engine.call('openExpert', file);
    prog.finish('verify');
    mark('verify');
    job.sink = null;
    state.output = { file, url: URL.createObjectURL(file), name: res.file_name, gguf: o.format === 'gguf' };
    res.eval = {};
    showResult(res, o);
    setState('verified');
    // from here on the expert is the user's: evaluation and the preview
    // can be cancelled or skipped without losing it
    if (measure) {
      state.phase = 'evaluate';
      $('cancel').textContent = 'Cancel';
      $('prune-hint').textContent = 'Your expert is ready to download. Cancel or Skip stops the measurement and keeps it.';
      $('skip-eval').hidden = false;
      prog.update('evaluate', 0, 1);
      if (n > 1) {
        // the same held-out text, a part per worker, joined by the main one
        const sizes = maxDocs || maxTokens ? { maxDocs, maxTokens } : { maxDocs: ed, maxTokens: et };
        prog.rows.evaluate.note = `${n} workers`;
        const parts = await team.split(n, state.files, state.output, 'evaluateShard', [o, sizes], onProgress);
        res.eval = await engine.call('mergeEvaluation', parts);
      } else {
        res.eval = await engine.call('evaluate', { maxDocs, maxTokens }, onProgress);
      }
      prog.finish('evaluate');
      mark('evaluate');
      showEval(res, o);
    }
    prog.stop('');
    res.total_seconds = prog.elapsed();
    $('overall').value = 1;
    $('overall-text').textContent = 'done in ' + fmtTime(prog.elapsed());
    showTook(res);
    if (params.get('gen') !== '0') {
      state.phase = 'preview';
      $('prune-hint').textContent = 'Generating a preview. Cancel stops it; your expert stays downloadable.';
      setState('preview');
      await generateBoth();
    }
    setState('done');
  } catch (e) {
    const cancelled = job.cancelled || e.cancelled;
    if (team) team.kill(); // a helper may still be working on its part
    if (state.output) {
      // after verification: the expert stays; only the follow-up stopped
      const what = state.phase === 'evaluate' ? 'evaluate' : null;
      if (what) { prog.stopPhase('evaluate', cancelled ? 'cancelled · the expert is kept' : 'failed: ' + e.message); showEval(res, o); }
      prog.stop('');
      if (state.phase === 'preview') $('gen-expert').textContent = cancelled ? 'Preview stopped.' : 'Generation failed: ' + e.message;
      $('overall-text').textContent = (cancelled ? 'stopped' : 'done') + ' after ' + fmtTime(prog.elapsed()) + ' · the expert is ready';
      if (!cancelled) showError($('job-error'), state.phase === 'evaluate' ? 'Measuring perplexity failed:' : 'The preview failed:', e.message);
      if (res) { res.total_seconds = prog.elapsed(); showTook(res); }
      setState('done');
      document.body.dataset.followup = cancelled ? 'cancelled' : 'failed';
    } else {
      prog.stop(cancelled ? 'cancelled' : 'failed');
      if (job.sink) await job.sink.abort();
      await clearOutput();
      if (cancelled) {
        showError($('job-error'), '', 'Cancelled. Whatever was written so far has been deleted, and your model files are untouched.');
        setState('cancelled');
      } else {
        showError($('job-error'), 'The job stopped:', e.message);
        setState('error');
      }
    }
    if (cancelled) {
      state.cancelMs = performance.now() - job.cancelledAt;
      state.cancels = (state.cancels || 0) + 1;
    }
  } finally {
    stallStop();
    if (job.cancelled || engine.worker === null) {
      $('prune').disabled = true;
      await restartEngine();
    }
    state.running = false;
    state.phase = '';
    current = null;
    lockForm(false);
    document.body.dataset.idle = String(Date.now());
  }
}

function targetText(res) {
  const named = (k) => { const opt = $(k).querySelector(`option[value="${res.target[k]}"]`); return opt ? opt.textContent : res.target[k]; };
  return ['language', 'domain', 'task'].map((k) => res.target[k] ? `${k}: ${named(k)}` : null).filter(Boolean).join(', ') || 'general use (no target)';
}

function showResult(res, o) {
  const pct = (x) => (100 * x).toFixed(1) + '%';
  fill($('summary'), [
    ['Expert for', targetText(res)],
    ['Parameters', `${fmtCount(res.params_before)} → ${fmtCount(res.params_after)} (−${pct(1 - res.params_after / res.params_before)})`],
    ['Size on disk', `${fmtBytes(res.bytes_before)} → ${fmtBytes(state.output.file.size)}${res.quant && res.quant !== 'keep' ? ' (' + res.quant + ')' : ''}`],
    ['Attention + FFN removed', pct(res.ratio_actual)],
    ...(res.vocab ? [['Vocabulary', `${fmtCount(res.vocab.before)} → ${fmtCount(res.vocab.after)} tokens`]] : []),
    ['Method', `${res.method}, ${res.placement} placement`],
    ['Calibration', `${res.calibration.docs} documents, ${res.calibration.tokens} tokens`],
    ...(res.notes && res.notes.length ? [['Note', res.notes.join(' ')]] : []),
  ]);
  const a = $('download');
  a.href = state.output.url;
  a.download = res.file_name;
  a.setAttribute('aria-disabled', 'false');
  a.textContent = 'Download';
  $('download-note').textContent = `${res.file_name}: ${fmtBytes(state.output.file.size)}, ${o.format === 'gguf' ? 'GGUF for llama.cpp, ollama and LM Studio' : 'a Hugging Face folder as .zip (transformers loads it unzipped), with its own model card'}. Verified tensor by tensor.`;
  $('saveas').hidden = !window.showSaveFilePicker;
  drawPlot(res);
  $('ppl-none').hidden = false;
  $('ppl-none').textContent = $('measure').checked ? 'Measuring… (the download does not wait for it)' : 'Not measured for this job.';
  $('ppl-wrap').hidden = true;
  $('prompt').value = PROMPTS[o.language] || PROMPTS.any;
  $('gen-original').textContent = '';
  $('gen-expert').textContent = '';
  $('step-result').hidden = false;
}

function showTook(res) {
  const dl = $('summary');
  const old = dl.querySelector('dd[data-took]');
  const text = fmtTime(res.total_seconds || 0) + ' on ' + (state.engine.engine === 'webgpu' ? 'WebGPU' : res.workers > 1 ? `the CPU (${res.workers} workers)` : 'the CPU');
  if (old) { old.textContent = text; return; }
  const dt = document.createElement('dt'); dt.textContent = 'Took';
  const dd = document.createElement('dd'); dd.textContent = text; dd.dataset.took = '1';
  dl.append(dt, dd);
}

function showEval(res, o) {
  const tb = $('ppl').querySelector('tbody');
  tb.replaceChildren();
  const has = !!(res.eval && res.eval.general);
  $('ppl-none').hidden = has;
  $('ppl-wrap').hidden = !has;
  if (!has) { $('ppl-none').textContent = 'Not measured for this job.'; return; }
  const labels = { expert: 'Expert text (' + targetText(res) + ')', general: 'General mixed text' };
  for (const k of ['expert', 'general']) {
    const e = res.eval[k];
    if (!e) {
      // An own language or domain the built-in held-out text has nothing for.
      const tr = document.createElement('tr');
      const td = document.createElement('td'); td.colSpan = 4;
      td.textContent = labels[k] + ': not measured (the built-in held-out text has no document for this target; `cusprun prune --eval-data FILE` measures your own)';
      tr.append(td); tb.append(tr);
      continue;
    }
    const tr = document.createElement('tr');
    for (const v of [labels[k] + ` · ${e.docs} docs, ${e.tokens} tokens`, fmtPPL(e.ppl_before), fmtPPL(e.ppl_after), (100 * e.retention).toFixed(0) + '%']) {
      const td = document.createElement('td'); td.textContent = v; tr.append(td);
    }
    tb.append(tr);
  }
}

// drawPlot draws kept FFN neurons and attention heads per layer as bars,
// at the width it is shown (so its text keeps its size on a phone).
function drawPlot(res) {
  if (!res) return;
  const NS = 'http://www.w3.org/2000/svg';
  const L = res.kept.ffn.length;
  const W = Math.max(300, Math.round($('plot').clientWidth || 720)), H = 230, left = 46, right = 12, top = 44, bottom = 34;
  const pw = W - left - right, ph = H - top - bottom;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', W);
  svg.setAttribute('height', H);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Kept units per layer: FFN ${res.kept.ffn[0]} of ${res.from.ffn[0]} neurons and ${res.kept.heads[0]} of ${res.from.heads[0]} heads in layer 0`);
  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    svg.append(e);
    return e;
  };
  for (const y of [0, 0.25, 0.5, 0.75, 1]) {
    const yy = top + ph * (1 - y);
    el('line', { x1: left, x2: W - right, y1: yy, y2: yy, stroke: '#d8dee6', 'stroke-width': 1 });
    el('text', { x: left - 6, y: yy + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#5b6675' }, Math.round(y * 100) + '%');
  }
  const slot = pw / L, bw = Math.max(1, Math.min(18, slot * 0.38));
  const every = Math.ceil(L / Math.max(1, Math.floor(pw / 22)));
  for (let l = 0; l < L; l++) {
    const f = res.kept.ffn[l] / res.from.ffn[l], a = res.kept.heads[l] / res.from.heads[l];
    const x = left + slot * l + slot / 2;
    const r1 = el('rect', { x: x - bw, y: top + ph * (1 - f), width: bw, height: ph * f, fill: '#1f5f8b' });
    const t1 = document.createElementNS(NS, 'title'); t1.textContent = `layer ${l}: ${res.kept.ffn[l]} of ${res.from.ffn[l]} FFN neurons`; r1.append(t1);
    const r2 = el('rect', { x: x, y: top + ph * (1 - a), width: bw, height: ph * a, fill: '#e07a2f' });
    const t2 = document.createElementNS(NS, 'title'); t2.textContent = `layer ${l}: ${res.kept.heads[l]} of ${res.from.heads[l]} attention heads`; r2.append(t2);
    if (l % every === 0) el('text', { x, y: H - bottom + 15, 'text-anchor': 'middle', 'font-size': 12, fill: '#5b6675' }, String(l));
  }
  el('text', { x: left + pw / 2, y: H - 4, 'text-anchor': 'middle', 'font-size': 13, fill: '#1b2430' }, 'decoder layer');
  // the legend on two lines when the plot is narrow
  const narrow = W < 480;
  el('rect', { x: left, y: 6, width: 12, height: 12, fill: '#1f5f8b' });
  el('text', { x: left + 17, y: 16, 'font-size': 13, fill: '#1b2430' }, 'feed-forward neurons kept');
  const lx = narrow ? left : left + 215, ly = narrow ? 24 : 6;
  el('rect', { x: lx, y: ly, width: 12, height: 12, fill: '#e07a2f' });
  el('text', { x: lx + 17, y: ly + 10, 'font-size': 13, fill: '#1b2430' }, 'attention heads kept');
  $('plot').replaceChildren(svg);
}

async function generateBoth() {
  if (hooks.onPhase) hooks.onPhase('preview');
  if (current && current.cancelled) throw Object.assign(new Error('cancelled'), { cancelled: true });
  const prompt = $('prompt').value;
  const n = Number(params.get('gentokens') || 20);
  for (const which of ['original', 'expert']) {
    const out = $('gen-' + which);
    out.replaceChildren();
    const p = document.createElement('span'); p.className = 'prompt'; p.textContent = prompt;
    const t = document.createElement('span');
    out.append(p, t);
    t.textContent = ' …';
    const text = await engine.call('generate', which, prompt, n, (s) => { t.textContent = s; });
    t.textContent = text;
  }
}

// generateAgain is the Generate button: a preview on its own, cancellable.
async function generateAgain() {
  if (state.running || !state.output) return;
  state.running = true;
  state.phase = 'preview';
  current = { cancelled: false };
  const job = current;
  lockForm(true);
  $('prune').disabled = true;
  setState('preview');
  try {
    await generateBoth();
  } catch (e) {
    $('gen-expert').textContent = job.cancelled ? 'Preview stopped.' : 'Generation failed: ' + e.message;
  } finally {
    if (job.cancelled) await restartEngine();
    state.running = false;
    state.phase = '';
    current = null;
    lockForm(false);
    setState('done');
  }
}

async function saveAs() {
  if (!state.output || !window.showSaveFilePicker) return;
  try {
    const fh = await window.showSaveFilePicker({ suggestedName: state.output.name });
    const ws = await fh.createWritable();
    await state.output.file.stream().pipeTo(ws);
    $('download-note').textContent = 'Saved ' + fh.name + '.';
  } catch (e) {
    if (e.name !== 'AbortError') $('download-note').textContent = 'Saving failed: ' + e.message;
  }
}

// ---------------------------------------------------------------- wiring

function describeRatio() {
  const r = Number($('ratio').value);
  $('ratio-help').textContent = r >= 0 && r <= state.maxRatio
    ? `removes ${Math.round(r * 100)}% of the attention and feed-forward weights (0 to ${state.maxRatio})`
    : `give a fraction from 0 to ${state.maxRatio}`;
}

let engineReady;
async function main() {
  setState('start');
  const want = ['cpu', 'webgpu'].includes(params.get('engine')) ? params.get('engine') : 'auto';
  $('engine-choice').value = want;
  $('files').addEventListener('change', (e) => openFiles(e.target.files));
  $('folder').addEventListener('change', (e) => openFiles(e.target.files));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => { e.preventDefault(); drop.classList.remove('over'); const d = await droppedFiles(e.dataTransfer); openFiles(d.files, d.folder); });
  $('ratio').addEventListener('input', describeRatio);
  $('corpus').addEventListener('change', describeCorpora);
  $('language').addEventListener('change', () => {
    const other = $('language').value === 'other';
    $('language-other').hidden = $('language-other-help').hidden = !other;
    if (other) $('language-other').focus();
  });
  $('prune').addEventListener('click', runJob);
  $('cancel').addEventListener('click', cancelRunning);
  $('generate').addEventListener('click', generateAgain);
  $('saveas').addEventListener('click', saveAs);
  $('download').addEventListener('click', (e) => { if (!state.output) e.preventDefault(); });
  $('compensate').addEventListener('change', () => { $('reselect').disabled = !$('compensate').checked; });
  $('placement').addEventListener('change', () => { if ($('placement').value === 'adaptive') $('format').value = 'gguf'; });
  // quantized types exist only in GGUF: each choice keeps the other possible
  $('quant').addEventListener('change', () => { if (/^i?q/.test($('quant').value)) $('format').value = 'gguf'; });
  $('format').addEventListener('change', () => { if ($('format').value !== 'gguf' && /^i?q/.test($('quant').value)) $('quant').value = 'keep'; });
  $('engine-choice').addEventListener('change', chooseEngine);
  let resize = 0;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(() => drawPlot(state.result), 150); });
  describeRatio();
  try {
    engineReady = Engine.load().then((e) => { engine = e; team = new Team(e); window.cusprunEngine = e; return startEngine(); });
    await engineReady;
    const lim = await engine.call('limits');
    state.maxRatio = lim.maxRatio;
    $('ratio').max = String(lim.maxRatio);
    describeRatio();
    await clearOutput();
    $('prune-hint').textContent = 'Choose a model first.';
    document.body.dataset.ready = '1';
  } catch (e) {
    $('engine').textContent = 'The engine could not start: ' + e.message;
    setState('error');
  }
}

main();
