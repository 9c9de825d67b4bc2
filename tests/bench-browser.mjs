// Browser prune benchmark (issue 6): a synthetic Qwen2.5-0.5B (about 1 GB
// in bf16) pruned for German at 0.25 in headless Chromium; prints the peak
// wasm linear memory, the peak JS heap and the wall time of every phase as
// JSON. Not part of `./build.sh test` (it takes minutes): run it with
//
//   ./build.sh bench browser           or   node tests/bench-browser.mjs
//
// Environment: BENCH_SHAPE (default qwen2.5-0.5b; tiny-multi for the
// trained model in ../shared), BENCH_ENGINE (cpu or webgpu, default cpu:
// SwiftShader is a correctness target, not a fast one), BENCH_QUERY (page
// settings, default a short calibration: maxdocs=4&maxtokens=128&gentokens=4;
// evaluation sized by job.EvalSize), BENCH_WORKERS (CPU engine: the worker
// counts to run side by side, default "1,N" with N this machine's cores;
// the ratios of their phase times are printed last), BENCH_REFIT (0 runs
// the job without the refit of the kept weights, which is on by default).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, cli, serve, browser, newPage, shot, modelFiles, missing } from './lib/harness.mjs';

const why = missing();
if (why) { console.error('bench-browser: ' + why); process.exit(1); }
const shape = process.env.BENCH_SHAPE || 'qwen2.5-0.5b';
const engine = process.env.BENCH_ENGINE || 'cpu';
const query = new URLSearchParams(process.env.BENCH_QUERY || 'maxdocs=4&maxtokens=128&gentokens=4');
query.set('engine', engine);

const cores = os.cpus().length;
const refit = process.env.BENCH_REFIT !== '0'; // the page's default: refit the kept weights
const workerCounts = engine === 'cpu' ? (process.env.BENCH_WORKERS || `1,${cores}`).split(',').map(Number) : [1];

const trained = shape === 'tiny-multi';
const dir = trained ? path.resolve(process.env.CUSPRUN_SHARED || path.join(ROOT, '..', 'shared'), 'models', 'tiny-multi')
  : path.join(process.env.CUSPRUN_DEPS || path.join(ROOT, '.deps'), 'bench', `browser-${shape}`);
if (!trained && !fs.existsSync(path.join(dir, 'config.json'))) {
  console.error(`bench-browser: making a synthetic ${shape} in ${dir}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  cli('synth', '--family', shape.startsWith('qwen') ? 'qwen2' : 'llama', '--shape', shape, '--out', dir);
}
const bytes = modelFiles(dir).reduce((a, f) => a + fs.statSync(f).size, 0);

const srv = await serve();
const br = await browser();

// once runs the whole job on the page with n workers and reports it.
async function once(n) {
  const page = await newPage(br);
  const cdp = await br.ctx.newCDPSession(page);
  await cdp.send('Performance.enable');
  const q = new URLSearchParams(query);
  if (engine === 'cpu') q.set('workers', String(n));
  await page.goto(srv.url + '?' + q);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  const peak = { wasm: 0, jsHeapUsed: 0, jsHeapTotal: 0 };
  const sample = async () => {
    try {
      // the engine runs in a worker: it reports its linear memory
      const wasm = await page.evaluate(() => window.cusprunEngine.wasmBytes());
      const m = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((x) => [x.name, x.value]));
      peak.wasm = Math.max(peak.wasm, wasm);
      peak.jsHeapUsed = Math.max(peak.jsHeapUsed, m.JSHeapUsedSize || 0);
      peak.jsHeapTotal = Math.max(peak.jsHeapTotal, m.JSHeapTotalSize || 0);
    } catch { /* page busy */ }
  };
  const timer = setInterval(sample, 1000);
  const t0 = Date.now();
  await page.getByLabel('Model files', { exact: true }).setInputFiles(modelFiles(dir));
  await page.waitForSelector('body[data-state="loaded"]', { timeout: 600000 });
  const openS = (Date.now() - t0) / 1000;
  await page.getByLabel('Language').selectOption('de');
  await page.getByLabel('Prune ratio').fill('0.25');
  await page.getByLabel(/Refit the kept weights/).setChecked(refit);
  const t1 = Date.now();
  await page.getByRole('button', { name: 'Prune' }).click();
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 4 * 3600 * 1000 });
  const jobS = (Date.now() - t1) / 1000;
  await page.waitForFunction(() => !window.cusprunState.running, null, { timeout: 3600 * 1000 });
  clearInterval(timer);
  await sample();
  await shot(page, `bench-${shape}-${engine}-${n}w`);
  const st = await page.evaluate(() => document.body.dataset.state);
  const res = await page.evaluate(() => window.cusprunState.result);
  const report = {
    shape, engine: await page.locator('#engine').textContent(), workers: res && res.workers, refit, query: String(q), model_bytes: bytes, state: st,
    error: st === 'done' ? undefined : await page.locator('#job-error').textContent(),
    open_seconds: openS, job_seconds: jobS, phases_seconds: res && res.times,
    main_thread: await page.evaluate(() => {
      const s = window.cusprunState.stall;
      return { longest_timer_gap_ms: Math.round(s.max), in_phase: s.where, longest_task_ms: Math.round(s.longestTask),
        idle_control_worker_gap_ms: Math.round(s.control), gaps_over_100ms: s.gaps.map(([a, b]) => Math.round(b - a)) };
    }),
    eval: res && res.eval,
    parts_ms: await page.evaluate(() => Team.took), // when each worker's part was back
    params: res && [res.params_before, res.params_after], calibration: res && res.calibration,
    // the main worker's (each helper holds about as much)
    peak_wasm_memory_MiB: +(peak.wasm / 2 ** 20).toFixed(1),
    peak_js_heap_used_MiB: +(peak.jsHeapUsed / 2 ** 20).toFixed(1),
    peak_js_heap_total_MiB: +(peak.jsHeapTotal / 2 ** 20).toFixed(1),
  };
  await page.close();
  return report;
}

try {
  const runs = [];
  for (const n of workerCounts) {
    const r = await once(n);
    console.log(JSON.stringify(r, null, 2));
    runs.push(r);
    if (r.state !== 'done') process.exitCode = 1;
  }
  const ok = runs.filter((r) => r.state === 'done');
  const counts = [...new Set(ok.map((r) => r.workers))];
  if (counts.length > 1) {
    // side by side on the same machine: medians per worker count, and how
    // much faster than the first count
    const median = (a) => { const b = [...a].sort((x, y) => x - y); return b.length % 2 ? b[(b.length - 1) / 2] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2; };
    const med = Object.fromEntries(counts.map((n) => {
      const rs = ok.filter((r) => r.workers === n);
      return [n, { runs: rs.length, score: median(rs.map((r) => r.phases_seconds.score)), evaluate: median(rs.map((r) => r.phases_seconds.evaluate)),
        job: median(rs.map((r) => r.job_seconds)) }];
    }));
    const base = med[counts[0]];
    const r2 = (x) => +x.toFixed(2);
    console.log(JSON.stringify({
      cores, shape, medians_seconds: med,
      speedup_vs_first: counts.slice(1).map((n) => ({ workers: n, score: r2(base.score / med[n].score),
        evaluate: r2(base.evaluate / med[n].evaluate), job: r2(base.job / med[n].job) })),
    }, null, 2));
  }
} finally {
  await br.close();
  srv.close();
}
