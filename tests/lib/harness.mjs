// Shared helpers of the browser tests: the built tool, a served site, a
// headless Debian Chromium with WebGPU on SwiftShader (DESIGN §5), and
// native CLI calls for the comparisons.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'cusprun');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(ROOT, 'out', 'screenshots');

// Why the browser tests cannot run here, or '' when they can. In CI
// (CI=true) a missing piece is a failure, not a skip.
export function missing() {
  if (!fs.existsSync(BIN)) return 'bin/cusprun is not built (./build.sh build)';
  if (!fs.existsSync(path.join(ROOT, 'site', 'cusprun.wasm'))) return 'site/cusprun.wasm is not built (./build.sh build)';
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (./build.sh setup installs Debian's)`;
  if (!playwright()) return 'playwright-core is not installed (./build.sh setup puts it in .deps/node)';
  return '';
}

let pw;
export function playwright() {
  if (pw !== undefined) return pw;
  const require = createRequire(import.meta.url);
  const paths = [process.env.NODE_PATH, path.join(process.env.CUSPRUN_DEPS || path.join(ROOT, '.deps'), 'node', 'node_modules')].filter(Boolean);
  try {
    pw = require(require.resolve('playwright-core', { paths }));
  } catch {
    pw = null;
  }
  return pw;
}

export function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// cli runs bin/cusprun and parses its JSON.
export function cli(...args) {
  const out = execFileSync(BIN, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out);
}

// serve starts `cusprun serve` on a free port and returns {url, close}.
export async function serve() {
  const p = spawn(BIN, ['serve', '--addr', '127.0.0.1:0', '--dir', path.join(ROOT, 'site')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('serve did not start: ' + err)), 60000);
    p.stderr.on('data', (d) => {
      err += d;
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(err);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    p.on('exit', (c) => reject(new Error(`serve exited ${c}: ${err}`)));
  });
  return { url, close: () => p.kill() };
}

// DESIGN §5: WebGPU on SwiftShader in headless Debian Chromium.
export const FLAGS = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader', '--disable-gpu-sandbox',
  '--ignore-gpu-blocklist', '--disable-features=DialMediaRouteProvider,OptimizationHints,Translate,MediaRouter',
  '--js-flags=--expose-gc'];

// browser launches Chromium with a fresh profile; every request of every
// page is logged in requests.
export async function browser() {
  const { chromium } = playwright();
  const udd = tmpdir('cusprun-udd-');
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, acceptDownloads: true, timeout: 120000,
    viewport: { width: 1100, height: 900 },
  });
  const requests = [];
  ctx.on('request', (r) => requests.push({ url: r.url(), t: Date.now() }));
  const logs = [];
  const close = async () => { await ctx.close(); fs.rmSync(udd, { recursive: true, force: true }); };
  return { ctx, requests, logs, close };
}

export async function newPage(b) {
  const page = await b.ctx.newPage();
  page.on('console', (m) => b.logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => b.logs.push(`[pageerror] ${e.message}`));
  return page;
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

// modelFiles lists the files of a model folder.
export function modelFiles(dir) {
  return fs.readdirSync(dir).filter((n) => !n.startsWith('.')).map((n) => path.join(dir, n));
}

// maxRel is the largest |a-b| relative to the largest |b|.
export function maxRel(a, b) {
  let scale = 0, worst = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / (scale || 1);
}
