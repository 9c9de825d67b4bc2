// End-to-end tests of the browser app (issue 6) and the browser engine
// check of issue 5, in headless Debian Chromium driven by playwright-core:
//
//   - a synthetic llama (and ../shared/models/tiny-multi when present) is
//     loaded through the "Model files" input, pruned for German at ratio
//     0.25, and downloaded, once on WebGPU (SwiftShader) and once on the CPU
//     engine (?engine=cpu);
//   - the download is the very file `cusprun prune --language de --ratio
//     0.25 --format zip` writes for the same inputs (same decisions, shapes
//     and bytes), and the native engine loads it and gives the same logits;
//   - privacy from the browser's own network log: after the page has loaded
//     the job makes no request, and no request ever goes to another origin;
//   - Cancel stops a job and leaves nothing behind;
//   - the GOOS=js build's logits equal the CPU engine's for llama and qwen2
//     (WebGPU within tolerance, the wasm CPU engine bit for bit);
//   - screenshots of every state go to out/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, cli, serve, browser, newPage, shot, modelFiles, maxRel, missing, tmpdir } from './lib/harness.mjs';

const why = missing();
const skip = why && !process.env.CI ? why : false;
if (why && process.env.CI) throw new Error('browser tests cannot run: ' + why);

const TRAINED = process.env.CUSPRUN_TRAINED || path.resolve(ROOT, '..', 'shared', 'models', 'tiny-multi');
const JOB_TIMEOUT = 6 * 60 * 1000;
const IDS = [1, 5, 300, 45, 99, 7, 120, 33, 250, 2];

let srv, br, work;
const models = {};

before(async () => {
  if (skip) return;
  work = tmpdir('cusprun-e2e-');
  for (const fam of ['llama', 'qwen2']) {
    const dir = path.join(work, fam);
    cli('synth', '--family', fam, '--shape', 'tiny', '--out', dir);
    models[fam] = dir;
  }
  srv = await serve();
  br = await browser();
});

after(async () => {
  if (br) await br.close();
  if (srv) srv.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

// Page settings per engine. SwiftShader runs WebGPU on the CPU and is slow:
// there the job calibrates on 128 tokens per document (and the CLI is given
// the same --max-tokens) and measures perplexity on a few short documents.
const QUICK = { maxtokens: '128', evaldocs: '4', evaltokens: '64', gentokens: '8' };

// open loads the page and waits for the engine.
async function open(engine, query = {}) {
  const page = await newPage(br);
  const q = new URLSearchParams(query);
  if (engine === 'cpu') q.set('engine', 'cpu');
  await page.goto(srv.url + (q.size ? '?' + q : ''));
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  const got = await page.locator('#engine').getAttribute('data-engine');
  assert.equal(got, engine === 'cpu' ? 'cpu' : 'webgpu', 'engine: ' + (await page.locator('#engine').textContent()) + '\n' + br.logs.join('\n'));
  return page;
}

async function loadModel(page, dir) {
  await page.getByLabel('Model files', { exact: true }).setInputFiles(modelFiles(dir));
  await page.waitForSelector('body[data-state="loaded"]', { timeout: 120000 });
}

// pruneGerman runs the whole job on the page and returns the downloaded
// file, the page's result and how long the job took.
async function pruneGerman(page, engine, label) {
  await page.getByLabel('Language').selectOption('de');
  await page.getByLabel('Domain').selectOption('any');
  await page.getByLabel('Task').selectOption('any');
  await page.getByLabel('Prune ratio').fill('0.25');
  await shot(page, `${label}-2-loaded`);
  const origin = new URL(srv.url).origin;
  const firstJobRequest = br.requests.length;
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Prune' }).click();
  await page.waitForSelector('body[data-state="running"]');
  await shot(page, `${label}-3-running`);
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: JOB_TIMEOUT });
  const seconds = (Date.now() - t0) / 1000;
  const err = await page.locator('#job-error').textContent();
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', 'job failed: ' + err + '\n' + br.logs.join('\n'));
  // wait for the side-by-side generation
  await page.waitForFunction(() => !document.getElementById('generate').disabled && document.getElementById('gen-expert').textContent.length > 0, null, { timeout: JOB_TIMEOUT });
  await shot(page, `${label}-4-done`);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
  const file = path.join(work, `${label}-${dl.suggestedFilename()}`);
  await dl.saveAs(file);
  const result = await page.evaluate(() => window.cusprunState.result);
  // privacy: the job (prune, export, verify, evaluate, generate, download)
  // made no network request; nothing ever went to another origin.
  const during = br.requests.slice(firstJobRequest).filter((r) => !r.url.startsWith('blob:') && !r.url.startsWith('data:'));
  assert.deepEqual(during.map((r) => r.url), [], 'the job made requests');
  for (const r of br.requests) {
    if (r.url.startsWith('blob:') || r.url.startsWith('data:')) continue;
    assert.equal(new URL(r.url).origin, origin, 'request to another origin: ' + r.url);
  }
  return { file, result, seconds };
}

// sameAsCLI checks the download against `cusprun prune` on the same inputs.
function sameAsCLI(dir, got, label, query = {}) {
  const out = path.join(work, `${label}-cli.zip`);
  const extra = query.maxtokens ? ['--max-tokens', query.maxtokens] : [];
  const want = cli('prune', '--model', dir, '--language', 'de', '--ratio', '0.25', '--format', 'zip', '--out', out, '--eval=false', ...extra);
  assert.deepEqual(got.result.plan.keep_ffn, want.plan.keep_ffn, 'kept FFN neurons differ from cusprun prune');
  assert.deepEqual(got.result.plan.keep_groups, want.plan.keep_groups, 'kept attention groups differ from cusprun prune');
  assert.deepEqual(got.result.kept, want.kept, 'planned shapes differ');
  assert.equal(got.result.params_after, want.params_after);
  const a = fs.readFileSync(got.file), b = fs.readFileSync(out);
  assert.ok(a.equals(b), `the downloaded zip (${a.length} bytes) differs from cusprun prune's (${b.length} bytes)`);
  // the native engine loads the download, with the same logits as the CLI's output
  const la = cli('logits', '--model', got.file, '--ids', IDS.join(','));
  const lb = cli('logits', '--model', out, '--ids', IDS.join(','));
  assert.deepEqual(la.logits, lb.logits);
  return want;
}

for (const engine of ['webgpu', 'cpu']) {
  test(`prune a synthetic llama for German at 0.25 in the browser (${engine}), download, same as cusprun prune`, { skip, timeout: 2 * JOB_TIMEOUT }, async () => {
    // the WebGPU run also keeps the expert in Blob parts (the fallback for
    // browsers without a private file system), the CPU run on disk
    const query = engine === 'webgpu' ? { ...QUICK, sink: 'memory' } : {};
    const page = await open(engine, query);
    await shot(page, `synth-${engine}-1-start`);
    await loadModel(page, models.llama);
    const got = await pruneGerman(page, engine, `synth-${engine}`);
    const want = sameAsCLI(models.llama, got, `synth-${engine}`, query);
    console.log(`# ${engine}: job ${got.seconds.toFixed(1)} s in the browser; params ${want.params_before} -> ${want.params_after}; phases ${JSON.stringify(got.result.times)}`);
    await page.close();
  });
}

test('Cancel stops a job and leaves nothing written', { skip, timeout: JOB_TIMEOUT }, async () => {
  const page = await open('cpu', { gen: '0' });
  await loadModel(page, models.llama);
  await page.getByLabel('Language').selectOption('de');
  await page.getByRole('button', { name: 'Prune' }).click();
  await page.waitForSelector('#phases li[data-phase="evaluate"].active', { timeout: JOB_TIMEOUT });
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.waitForSelector('body[data-state="cancelled"]', { timeout: 60000 });
  await shot(page, 'synth-cpu-5-cancelled');
  assert.match(await page.locator("#job-error").textContent(), /Cancelled/);
  assert.equal(await page.locator('#download').getAttribute('href'), null);
  const left = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const names = [];
    for await (const k of root.keys()) names.push(k);
    return names;
  });
  assert.deepEqual(left, [], 'files left in the private file system');
  // and the next job still runs
  await page.getByLabel('Prune ratio').fill('0.5');
  await page.getByRole('button', { name: 'Prune' }).click();
  await page.waitForSelector('body[data-state="done"]', { timeout: JOB_TIMEOUT });
  await page.close();
});

test('the trained tiny-multi model prunes for German in the browser (cpu), same as cusprun prune', { skip: skip || (!fs.existsSync(TRAINED) && 'no ../shared/models/tiny-multi'), timeout: 2 * JOB_TIMEOUT }, async () => {
  // the CPU engine: SwiftShader takes minutes on this model's 32000-token head
  const query = { ...QUICK, gentokens: '12' };
  const page = await open('cpu', query);
  await loadModel(page, TRAINED);
  const got = await pruneGerman(page, 'cpu', 'trained-cpu');
  const want = sameAsCLI(TRAINED, got, 'trained-cpu', query);
  const ev = got.result.eval;
  console.log(`# tiny-multi: job ${got.seconds.toFixed(1)} s; params ${want.params_before} -> ${want.params_after}; expert ppl ${ev.expert.ppl_before.toFixed(2)} -> ${ev.expert.ppl_after.toFixed(2)}; phases ${JSON.stringify(got.result.times)}`);
  await page.close();
});

// Issue 5: the GOOS=js build gives the CPU engine's logits in Chromium.
for (const fam of ['llama', 'qwen2']) {
  test(`browser logits equal the CPU engine's (${fam})`, { skip, timeout: JOB_TIMEOUT }, async () => {
    const want = cli('logits', '--model', models[fam], '--ids', IDS.join(','), '--all', '--engine', 'cpu').logits.flat().map(Math.fround);
    for (const engine of ['webgpu', 'cpu']) {
      const page = await open(engine);
      await loadModel(page, models[fam]);
      const got = await page.evaluate(async (ids) => Array.from(await cusprun.logits('original', ids)), IDS);
      assert.equal(got.length, want.length);
      const e = maxRel(got, want);
      console.log(`# ${fam} ${engine}: max |diff| / max |logit| = ${e.toExponential(2)} over ${got.length} logits`);
      if (engine === 'cpu') assert.deepEqual(got, want, 'the wasm CPU engine is not bit for bit the native one');
      else assert.ok(e < 2e-5, `WebGPU logits differ by ${e}`);
      await page.close();
    }
  });
}
