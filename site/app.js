// cusprun's page: loads the Go engine (cusprun.wasm), reads the model the
// user picks straight from disk, runs the prune job with progress, writes the
// expert to the browser's private file system (or memory when there is none)
// and offers it as a download. No request leaves this origin; after the page
// has loaded, none is made at all.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const PHASES = [
  { id: 'prepare', name: 'Reading calibration text', weight: 2 },
  { id: 'score', name: 'Scoring units, layer by layer', weight: 55 },
  { id: 'select', name: 'Choosing what to remove', weight: 1 },
  { id: 'export', name: 'Writing the expert', weight: 12 },
  { id: 'verify', name: 'Checking what was written', weight: 8 },
  { id: 'evaluate', name: 'Measuring perplexity', weight: 22 },
];

const PROMPTS = {
  en: 'The doctor told the patient that', de: 'Der Vertrag regelt, dass', zh: '今天的天气', fr: 'Le médecin a expliqué que',
  es: 'El contrato establece que', ja: '今日は', ru: 'Врач сказал, что', ar: 'قال الطبيب إن', any: 'The main idea is that',
};

const state = {
  desc: null,       // the opened model's description
  result: null,     // the last prune result
  output: null,     // {file, url, name}
  running: false,
  engine: null,
};
window.cusprunState = state; // for tests and the curious

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
function fmtTime(s) {
  if (!isFinite(s)) return '…';
  if (s < 1) return '<1 s';
  if (s < 90) return Math.round(s) + ' s';
  const m = Math.floor(s / 60);
  return m + ' min ' + String(Math.round(s - 60 * m)).padStart(2, '0') + ' s';
}
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
function showError(el, msg) {
  el.textContent = msg;
  el.hidden = !msg;
}

// ---------------------------------------------------------------- engine

let engineReady;
function loadEngine() {
  engineReady = new Promise((resolve, reject) => {
    window.cusprunReady = resolve;
    const go = new Go();
    WebAssembly.instantiateStreaming(fetch('cusprun.wasm'), go.importObject)
      .then((r) => { state.wasmMemory = r.instance.exports.mem; go.run(r.instance); })
      .catch(reject);
  });
  return engineReady;
}

async function chooseEngine(want) {
  $('engine').textContent = 'Starting the engine…';
  $('engine').className = '';
  const e = await cusprun.setEngine(want);
  state.engine = e;
  const el = $('engine');
  if (e.engine === 'webgpu') {
    const dev = e.device.replace(/\s*\(webgpu\)$/, '');
    el.textContent = 'Engine: WebGPU' + (dev && !/^WebGPU Adapter$/i.test(dev) ? ` (${dev})` : '') + '. The heavy math runs on your graphics card.';
    el.className = 'gpu';
  } else {
    el.textContent = `Engine: ${e.device}. ${e.note ? e.note + '. ' : ''}Slower than WebGPU, but it works everywhere.`;
    el.className = 'cpu';
  }
  el.dataset.engine = e.engine;
}

// ---------------------------------------------------------------- model

async function openFiles(files) {
  files = [...files].filter((f) => !f.name.startsWith('.'));
  if (!files.length) return;
  showError($('model-error'), '');
  $('model-info').hidden = true;
  $('prune').disabled = true;
  $('prune-hint').textContent = 'Reading the model…';
  try {
    await engineReady;
    const d = await cusprun.open(files);
    state.desc = d;
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
  } catch (e) {
    state.desc = null;
    showError($('model-error'), 'This model could not be opened: ' + e.message);
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
  if (!entries.length) return [...dt.files];
  for (const e of entries) await walk(e);
  return out;
}

// ---------------------------------------------------------------- progress

class Progress {
  constructor() {
    this.t0 = performance.now();
    this.rows = {};
    this.frac = {};
    const ol = $('phases');
    ol.replaceChildren();
    for (const p of PHASES) {
      const li = document.createElement('li');
      li.className = 'waiting';
      li.dataset.phase = p.id;
      const name = document.createElement('span'); name.className = 'name'; name.textContent = p.name;
      const bar = document.createElement('progress'); bar.max = 1; bar.value = 0; bar.setAttribute('aria-label', p.name);
      const st = document.createElement('span'); st.className = 'state'; st.textContent = 'waiting';
      li.append(name, bar, st);
      ol.append(li);
      this.rows[p.id] = { li, bar, st, start: 0 };
      this.frac[p.id] = 0;
    }
    this.timer = setInterval(() => this.tick(), 500);
    this.update('prepare', 0, 1);
  }
  update(id, done, total) {
    const r = this.rows[id];
    if (!r) return;
    const now = performance.now();
    for (const p of PHASES) { // every earlier phase is finished
      if (p.id === id) break;
      if (this.rows[p.id].li.className !== 'done') this.finish(p.id);
    }
    if (!r.start) { r.start = now; r.li.className = 'active'; }
    const f = total > 0 ? Math.min(1, done / total) : 0;
    this.frac[id] = f;
    r.bar.value = f;
    r.done = done; r.total = total;
    this.current = id;
    if (f >= 1 && total > 0 && id !== 'export' && id !== 'evaluate') this.finish(id);
    else this.render(id);
  }
  render(id) {
    const r = this.rows[id];
    const now = performance.now();
    const el = (now - r.start) / 1000;
    const f = this.frac[id];
    let s = fmtTime(el) + ' elapsed';
    if (f > 0 && f < 1 && el > 1) s += ', about ' + fmtTime(el * (1 - f) / f) + ' left';
    if (id === 'score' && r.total) s = `${r.done} of ${r.total} layer passes · ` + s;
    if (r.note) s = r.note + ' · ' + s;
    r.st.textContent = s;
    let sum = 0, all = 0;
    for (const p of PHASES) { sum += p.weight * this.frac[p.id]; all += p.weight; }
    $('overall').value = sum / all;
    $('overall-text').textContent = Math.floor(100 * sum / all) + '%';
  }
  tick() { if (this.current && this.frac[this.current] < 1) this.render(this.current); }
  finish(id) {
    const r = this.rows[id];
    if (!r.start) r.start = performance.now();
    this.frac[id] = 1;
    r.bar.value = 1;
    r.li.className = 'done';
    this.render(id);
    r.st.textContent = 'done in ' + fmtTime((performance.now() - r.start) / 1000) + (r.note ? ' · ' + r.note : '');
  }
  stop(msg) {
    clearInterval(this.timer);
    if (this.current && this.frac[this.current] < 1) this.rows[this.current].st.textContent = msg;
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

function options() {
  return {
    language: $('language').value, domain: $('domain').value, task: $('task').value,
    ratio: Number($('ratio').value), method: $('method').value, placement: $('placement').value,
    format: $('format').value, vocab: $('vocab').value, corpora: [...$('corpus').files],
    // the CLI's --max-tokens and --max-docs (tests pass them to compare)
    maxTokens: Number(params.get('maxtokens') || 0), maxDocs: Number(params.get('maxdocs') || 0),
  };
}

function lockForm(on) {
  for (const id of ['files', 'folder', 'language', 'domain', 'task', 'ratio', 'method', 'placement', 'format', 'vocab', 'corpus', 'engine-choice', 'generate', 'measure'])
    $(id).disabled = on;
  $('prune').disabled = on || !state.desc;
  $('cancel').disabled = !on;
  $('prune-hint').textContent = on ? 'Working. You can cancel at any time: nothing is offered until the expert is complete and checked.'
    : state.desc ? 'Ready. Choose the expert, then press Prune.' : 'Choose a model first.';
}

function bytesPerParam(dtype, format) {
  if (/F32/i.test(dtype)) return 4;
  if (/Q8/i.test(dtype)) return format === 'gguf' ? 1.07 : 4;
  return 2;
}

async function runJob() {
  if (state.running || !state.desc) return;
  const o = options();
  if (!(o.ratio >= 0 && o.ratio < 1)) { showError($('job-error'), 'The prune ratio must be at least 0 and below 1 (0.25 removes a quarter).'); $('step-progress').hidden = false; return; }
  state.running = true;
  state.result = null;
  lockForm(true);
  setState('running');
  $('step-result').hidden = true;
  $('step-progress').hidden = false;
  showError($('job-error'), '');
  await clearOutput();
  const prog = new Progress();
  const onProgress = (phase, done, total) => prog.update(phase, done, total);
  let sink = null;
  const times = {};
  let lap = performance.now();
  const mark = (k) => { const t = performance.now(); times[k] = (t - lap) / 1000; lap = t; };
  try {
    const res = await cusprun.prune(o, onProgress);
    mark('score');
    state.result = res;
    // export
    sink = await makeSink();
    const expected = res.params_after * bytesPerParam(state.desc.dtype, o.format);
    prog.rows.export.note = sink.where === 'disk' ? 'to this browser\'s private storage' : 'in memory';
    prog.update('export', 0, 1);
    await cusprun.exportTo(sink, (_, kib) => prog.update('export', Math.min(kib * 1024, expected * 0.99), expected));
    const file = await sink.finish();
    prog.rows.export.note = fmtBytes(file.size);
    prog.finish('export');
    mark('export');
    // verify: re-open what was written and compare every tensor with the plan
    prog.update('verify', 0, 1);
    await cusprun.openExpert(file);
    prog.finish('verify');
    mark('verify');
    const url = URL.createObjectURL(file);
    state.output = { file, url, name: res.file_name };
    // evaluate
    let ev = {};
    if ($('measure').checked) {
      prog.update('evaluate', 0, 1);
      const maxDocs = Number(params.get('evaldocs') || 8), maxTokens = Number(params.get('evaltokens') || 256);
      ev = await cusprun.evaluate({ maxDocs, maxTokens }, onProgress);
      prog.finish('evaluate');
      mark('evaluate');
    } else {
      prog.rows.evaluate.note = 'skipped';
      prog.finish('evaluate');
    }
    prog.stop('');
    res.eval = ev;
    res.times = times;
    res.total_seconds = prog.elapsed();
    showResult(res, o);
    setState('done');
    $('overall-text').textContent = '100% · ' + fmtTime(prog.elapsed());
    if (params.get('gen') !== '0') await generateBoth();
  } catch (e) {
    const was = state.cancelRequested;
    prog.stop(was ? 'cancelled' : 'failed');
    if (sink) await sink.abort();
    await clearOutput();
    if (was || /cancel/i.test(e.message)) {
      showError($('job-error'), 'Cancelled. Whatever was written so far has been deleted, and your model files are untouched.');
      setState('cancelled');
    } else {
      showError($('job-error'), 'The job stopped: ' + e.message);
      setState('error');
    }
  } finally {
    state.running = false;
    state.cancelRequested = false;
    lockForm(false);
  }
}

function showResult(res, o) {
  const pct = (x) => (100 * x).toFixed(1) + '%';
  const named = (k) => { const opt = $(k).querySelector(`option[value="${res.target[k]}"]`); return opt ? opt.textContent : res.target[k]; };
  const target = ['language', 'domain', 'task'].map((k) => res.target[k] ? `${k}: ${named(k)}` : null).filter(Boolean).join(', ') || 'general use (no target)';
  fill($('summary'), [
    ['Expert for', target],
    ['Parameters', `${fmtCount(res.params_before)} → ${fmtCount(res.params_after)} (−${pct(1 - res.params_after / res.params_before)})`],
    ['Attention + FFN removed', pct(res.ratio_actual)],
    ...(res.vocab ? [['Vocabulary', `${fmtCount(res.vocab.before)} → ${fmtCount(res.vocab.after)} tokens`]] : []),
    ['Method', `${res.method}, ${res.placement} placement`],
    ['Calibration', `${res.calibration.docs} documents, ${res.calibration.tokens} tokens`],
    ['Took', fmtTime(res.total_seconds) + ' on ' + (state.engine.engine === 'webgpu' ? 'WebGPU' : 'the CPU')],
  ]);
  const a = $('download');
  a.href = state.output.url;
  a.download = res.file_name;
  a.setAttribute('aria-disabled', 'false');
  a.textContent = 'Download';
  $('download-note').textContent = `${res.file_name}: ${fmtBytes(state.output.file.size)}, ${o.format === 'gguf' ? 'GGUF for llama.cpp, ollama and LM Studio' : 'a Hugging Face folder as .zip (transformers loads it unzipped)'}. Verified tensor by tensor.`;
  $('saveas').hidden = !window.showSaveFilePicker;
  drawPlot(res);
  const tb = $('ppl').querySelector('tbody');
  tb.replaceChildren();
  $('ppl-none').hidden = !!res.eval.general;
  $('ppl').hidden = !res.eval.general;
  const labels = { expert: 'Expert text (' + target + ')', general: 'General mixed text' };
  for (const k of ['expert', 'general']) {
    const e = res.eval[k];
    if (!e) continue;
    const tr = document.createElement('tr');
    for (const v of [labels[k] + ` · ${e.docs} docs`, fmtPPL(e.ppl_before), fmtPPL(e.ppl_after), (100 * e.retention).toFixed(0) + '%']) {
      const td = document.createElement('td'); td.textContent = v; tr.append(td);
    }
    tb.append(tr);
  }
  $('prompt').value = PROMPTS[o.language] || PROMPTS.any;
  $('gen-original').textContent = '';
  $('gen-expert').textContent = '';
  $('step-result').hidden = false;
  $('step-result').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

// drawPlot draws kept FFN neurons and attention heads per layer as bars.
function drawPlot(res) {
  const NS = 'http://www.w3.org/2000/svg';
  const L = res.kept.ffn.length;
  const W = 720, H = 230, left = 46, right = 12, top = 26, bottom = 34;
  const pw = W - left - right, ph = H - top - bottom;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
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
    el('text', { x: left - 6, y: yy + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6675' }, Math.round(y * 100) + '%');
  }
  const slot = pw / L, bw = Math.max(1, Math.min(18, slot * 0.38));
  for (let l = 0; l < L; l++) {
    const f = res.kept.ffn[l] / res.from.ffn[l], a = res.kept.heads[l] / res.from.heads[l];
    const x = left + slot * l + slot / 2;
    const r1 = el('rect', { x: x - bw, y: top + ph * (1 - f), width: bw, height: ph * f, fill: '#1f5f8b' });
    const t1 = document.createElementNS(NS, 'title'); t1.textContent = `layer ${l}: ${res.kept.ffn[l]} of ${res.from.ffn[l]} FFN neurons`; r1.append(t1);
    const r2 = el('rect', { x: x, y: top + ph * (1 - a), width: bw, height: ph * a, fill: '#e07a2f' });
    const t2 = document.createElementNS(NS, 'title'); t2.textContent = `layer ${l}: ${res.kept.heads[l]} of ${res.from.heads[l]} attention heads`; r2.append(t2);
    if (L <= 32 || l % Math.ceil(L / 32) === 0) el('text', { x, y: H - bottom + 14, 'text-anchor': 'middle', 'font-size': 11, fill: '#5b6675' }, String(l));
  }
  el('text', { x: left + pw / 2, y: H - 4, 'text-anchor': 'middle', 'font-size': 12, fill: '#1b2430' }, 'decoder layer');
  el('rect', { x: left, y: 6, width: 12, height: 12, fill: '#1f5f8b' });
  el('text', { x: left + 17, y: 16, 'font-size': 12, fill: '#1b2430' }, 'feed-forward neurons kept');
  el('rect', { x: left + 210, y: 6, width: 12, height: 12, fill: '#e07a2f' });
  el('text', { x: left + 227, y: 16, 'font-size': 12, fill: '#1b2430' }, 'attention heads kept');
  $('plot').replaceChildren(svg);
}

async function generateBoth() {
  const prompt = $('prompt').value;
  const n = Number(params.get('gentokens') || 20);
  $('generate').disabled = true;
  try {
    for (const which of ['original', 'expert']) {
      const out = $('gen-' + which);
      out.replaceChildren();
      const p = document.createElement('span'); p.className = 'prompt'; p.textContent = prompt;
      const t = document.createElement('span');
      out.append(p, t);
      t.textContent = ' …';
      const text = await cusprun.generate(which, prompt, n, (s) => { t.textContent = s; });
      t.textContent = text;
    }
  } catch (e) {
    $('gen-expert').textContent = 'Generation failed: ' + e.message;
  } finally {
    $('generate').disabled = false;
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
  $('ratio-help').textContent = r >= 0 && r < 1
    ? `removes ${Math.round(r * 100)}% of the attention and feed-forward weights`
    : 'a fraction from 0 to 0.9';
}

async function main() {
  setState('start');
  const want = params.get('engine') === 'cpu' ? 'cpu' : 'auto';
  $('engine-choice').value = want;
  $('files').addEventListener('change', (e) => openFiles(e.target.files));
  $('folder').addEventListener('change', (e) => openFiles(e.target.files));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => { e.preventDefault(); drop.classList.remove('over'); openFiles(await droppedFiles(e.dataTransfer)); });
  $('ratio').addEventListener('input', describeRatio);
  $('prune').addEventListener('click', runJob);
  $('cancel').addEventListener('click', () => { state.cancelRequested = true; cusprun.cancel(); $('cancel').disabled = true; });
  $('generate').addEventListener('click', generateBoth);
  $('saveas').addEventListener('click', saveAs);
  $('download').addEventListener('click', (e) => { if (!state.output) e.preventDefault(); });
  $('placement').addEventListener('change', () => { if ($('placement').value === 'adaptive') $('format').value = 'gguf'; });
  $('engine-choice').addEventListener('change', () => chooseEngine($('engine-choice').value));
  describeRatio();
  try {
    await loadEngine();
    await chooseEngine(want);
    await clearOutput();
    $('prune-hint').textContent = 'Choose a model first.';
    document.body.dataset.ready = '1';
  } catch (e) {
    $('engine').textContent = 'The engine could not start: ' + e.message;
    setState('error');
  }
}

main();
