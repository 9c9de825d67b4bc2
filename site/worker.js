// cusprun's engine worker: one instance of the Go engine (cusprun.wasm) in
// a dedicated Web Worker, so that no engine work ever runs on the page's
// main thread. The page (site/engine.js) builds this worker from a Blob of
// wasm_exec.js and this file, both fetched once when the page loads, so a
// restarted worker makes no network request; the compiled module comes in
// the first message.
//
// Messages from the page:
//   {type: 'init', module}                       -> {type: 'ready'} or {type: 'failed', message}
//   {type: 'call', id, method, args, callbacks}  -> {type: 'result', id, ok, value | message}
//   {type: 'ack', id}                            (the page stored a chunk of the expert)
// and to it, while a call runs:
//   {type: 'callback', id, args}                 (progress, generated text)
//   {type: 'chunk', id, bytes}                   (exportTo: the next piece of the expert, transferred)
'use strict';

if (typeof Go === 'undefined') importScripts('wasm_exec.js'); // loaded by URL, not as the page's Blob

const acks = new Map(); // call id -> resolvers of the chunk awaiting the page's ack

// softwareAdapter names a WebGPU adapter that is a CPU emulation
// (SwiftShader, llvmpipe/lavapipe, WARP), or '' for real hardware.
async function softwareAdapter() {
  try {
    if (!self.navigator || !navigator.gpu) return '';
    const a = await navigator.gpu.requestAdapter();
    if (!a) return '';
    const i = a.info || {};
    const text = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
    for (const [re, name] of [[/swiftshader/i, 'SwiftShader'], [/llvmpipe/i, 'llvmpipe'], [/lavapipe/i, 'lavapipe'],
      [/softpipe/i, 'softpipe'], [/warp|basic render/i, 'WARP'], [/software/i, 'a software renderer']]) {
      if (re.test(text)) return name;
    }
    if (i.isFallbackAdapter || a.isFallbackAdapter) return 'a fallback adapter';
    return '';
  } catch {
    return '';
  }
}

// setEngine: 'auto' takes WebGPU on real hardware and the CPU engine when
// the only WebGPU adapter is a software one (it emulates a GPU on the CPU,
// slower than the CPU engine); 'webgpu' takes WebGPU whatever it is.
async function setEngine(want) {
  const soft = want === 'cpu' ? '' : await softwareAdapter();
  if (want === 'auto' && soft) {
    const e = await cusprun.setEngine('cpu');
    e.note = `WebGPU here is ${soft}, a software GPU that runs on the processor and is slower than the CPU engine`;
    e.software = soft;
    return e;
  }
  const e = await cusprun.setEngine(want === 'cpu' ? 'cpu' : 'auto');
  if (e.engine === 'webgpu' && soft) e.software = soft;
  return e;
}

async function call(m) {
  const cb = (i) => (...args) => { self.postMessage({ type: 'callback', id: m.id, index: i, args }); };
  const args = m.args.map((a, i) => (m.callbacks && m.callbacks.includes(i) ? cb(i) : a));
  if (m.method === 'exportTo') {
    // the sink hands each chunk to the page and waits for it to be stored
    args[0] = {
      write(u8) {
        return new Promise((resolve) => {
          acks.set(m.id, resolve);
          self.postMessage({ type: 'chunk', id: m.id, bytes: u8 }, [u8.buffer]);
        });
      },
    };
  }
  if (m.method === 'setEngine') return setEngine(args[0] || 'auto');
  return cusprun[m.method](...args);
}

self.onmessage = async (e) => {
  const m = e.data;
  if (m.type === 'init') {
    try {
      const ready = new Promise((resolve) => { self.cusprunReady = resolve; });
      const go = new Go();
      const inst = await WebAssembly.instantiate(m.module, go.importObject);
      self.cusprunMemory = inst.exports.mem;
      go.run(inst);
      await ready;
      self.postMessage({ type: 'ready' });
    } catch (err) {
      self.postMessage({ type: 'failed', message: String(err && err.message || err) });
    }
    return;
  }
  if (m.type === 'ack') {
    const r = acks.get(m.id);
    acks.delete(m.id);
    if (r) r();
    return;
  }
  if (m.type === 'memory') {
    self.postMessage({ type: 'memory', wasm: self.cusprunMemory ? self.cusprunMemory.buffer.byteLength : 0 });
    return;
  }
  if (m.type === 'call') {
    try {
      const value = await call(m);
      // bytes (a part of a split job's scores or refit: about 100 MB for a
      // large model) are handed over, not copied on the page's thread;
      // never the wasm memory itself
      const own = ArrayBuffer.isView(value) && !(self.cusprunMemory && value.buffer === self.cusprunMemory.buffer);
      self.postMessage({ type: 'result', id: m.id, ok: true, value }, own ? [value.buffer] : []);
    } catch (err) {
      self.postMessage({ type: 'result', id: m.id, ok: false, message: String(err && err.message || err) });
    }
  }
};
