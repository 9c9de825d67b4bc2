// llama.cpp reference: next-token distributions for every position of a token sequence.
//
//   node logits.mjs MODEL.gguf [ID ...] [--bin FILE] [--threads N] [--last]
//   echo '[1,2,3]' | node logits.mjs MODEL.gguf        (or {"ids":[1,2,3]} on stdin)
//   node logits.mjs --check     only load llama.cpp (prebuilt, CPU) and print {"build":..}
//   echo '{"texts":["..."]}' | node logits.mjs MODEL.gguf --tokenize
//                               llama.cpp's tokenization of each text (vocabulary only loaded;
//                               no BOS, special-token text is plain text): {"ids":[[...], ...]};
//                               with "special":true in the input, control-token text is parsed
//                               as those tokens (llama_tokenize's parse_special)
//
// Loads MODEL.gguf with node-llama-cpp (prebuilt llama.cpp, CPU only, never
// builds or downloads anything), evaluates the ids exactly as given (no BOS is
// added) and prints one JSON object on stdout:
//
//   {"kind":"logprobs","n_vocab":V,"positions":[0,1,..N-1],"top1":[...],
//    "logprobs":[[V values], ...one row per position], "load_ms":..,"eval_ms":..}
//
// --last gives the last position only (positions [N-1]): the full
// distributions cost about 11 ms per position at a 32000 vocabulary, far more
// than evaluating a small model.
//
// node-llama-cpp 3.21.1 exposes no raw logits: with greedy sampling its
// probabilities are softmax(logits) over the whole vocabulary, so the values are
// log-probabilities, logits - logsumexp(logits) per position (float32 precision;
// a probability that underflows to 0 is -Infinity, written as null in JSON).
// With --bin FILE the rows go to FILE as little-endian float32, row-major
// [positions][n_vocab], and the JSON omits "logprobs".
//
// node-llama-cpp is resolved from $CUSPRUN_DEPS/node (default: .deps/node of the
// repository holding this script), so it runs from any working directory.
import { createRequire } from "node:module";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

function fail(msg) {
  process.stderr.write(`llamaref: ${msg}\n`);
  process.exit(1);
}

function depsDir() {
  if (process.env.CUSPRUN_DEPS) return path.resolve(process.env.CUSPRUN_DEPS);
  try {
    return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", ".deps");
  } catch {
    return path.resolve(".deps");
  }
}

function parseArgs(argv) {
  const opts = { model: null, ids: [], bin: null, threads: 0, check: false, last: false, tokenize: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--bin") opts.bin = argv[++i];
    else if (a === "--threads") opts.threads = Number(argv[++i]);
    else if (a === "--check") opts.check = true;
    else if (a === "--last") opts.last = true;
    else if (a === "--tokenize") opts.tokenize = true;
    else if (a.startsWith("--")) fail(`unknown flag ${a}`);
    else if (opts.model === null) opts.model = a;
    else for (const s of a.split(",")) if (s !== "") opts.ids.push(Number(s));
  }
  if (opts.check || opts.tokenize) return opts;
  if (opts.model === null) fail("usage: logits.mjs MODEL.gguf [ID ...] [--bin FILE] [--threads N]");
  if (opts.ids.length === 0) {
    const text = readFileSync(0, "utf8").trim();
    if (text === "") fail("no token ids (give them as arguments or JSON on stdin)");
    let v;
    try {
      v = JSON.parse(text);
    } catch (e) {
      fail(`stdin is not JSON: ${e.message}`);
    }
    opts.ids = Array.isArray(v) ? v : v.ids;
    if (!Array.isArray(opts.ids)) fail('stdin JSON must be [ids] or {"ids":[...]}');
  }
  for (const id of opts.ids) if (!Number.isInteger(id) || id < 0) fail(`bad token id ${id}`);
  if (opts.ids.length === 0) fail("no token ids");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
if (!opts.check && !existsSync(opts.model)) fail(`${opts.model}: no such file`);
const deps = depsDir();
let entry;
try {
  entry = createRequire(path.join(deps, "node", "package.json")).resolve("node-llama-cpp");
} catch {
  fail(`node-llama-cpp not found under ${path.join(deps, "node")}: run ./build.sh setup`);
}
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href);

const logger = (level, message) => {
  if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(`llama.cpp: ${message}\n`);
};
const t0 = performance.now();
const llama = await getLlama({
  gpu: false,
  build: "never",
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  logLevel: LlamaLogLevel.error,
  logger,
});
if (opts.check) {
  if (llama.buildType !== "prebuilt") fail(`llama.cpp is not the prebuilt binary but ${llama.buildType}`);
  process.stdout.write(JSON.stringify({ build: llama.buildType, gpu: llama.gpu, cores: llama.cpuMathCores, ms: Math.round(performance.now() - t0) }) + "\n");
  await llama.dispose();
  process.exit(0);
}
if (opts.tokenize) {
  if (opts.model === null || !existsSync(opts.model)) fail("usage: logits.mjs MODEL.gguf --tokenize < {\"texts\":[...]}");
  const input = JSON.parse(readFileSync(0, "utf8"));
  const texts = Array.isArray(input) ? input : input.texts;
  const vm = await llama.loadModel({ modelPath: path.resolve(opts.model), gpuLayers: 0, vocabOnly: true });
  const special = !Array.isArray(input) && input.special === true;
  const ids = texts.map((t) => Array.from(vm.tokenize(t, special)));
  process.stdout.write(JSON.stringify({ ids }) + "\n");
  await vm.dispose();
  await llama.dispose();
  process.exit(0);
}
const model = await llama.loadModel({ modelPath: path.resolve(opts.model), gpuLayers: 0 });
const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
const n = opts.ids.length;
for (const id of opts.ids) {
  if (nVocab !== undefined && id >= nVocab) fail(`token id ${id} is outside the vocabulary (${nVocab})`);
}
// One slot of headroom: a context that the input fills exactly makes
// node-llama-cpp shift it, and the last position comes out wrong (and slow).
const ctxSize = Math.max(256, Math.ceil((n + 1) / 256) * 256);
const context = await model.createContext({
  contextSize: ctxSize,
  batchSize: ctxSize,
  sequences: 1,
  flashAttention: false,
  // An f32 KV cache so the reference is not rounded through f16.
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
  ...(opts.threads > 0 ? { threads: opts.threads } : {}),
});
const sequence = context.getSequence();
const t1 = performance.now();

const positions = opts.last ? [n - 1] : opts.ids.map((_, i) => i);
const want = new Set(positions);
// temperature 0: a greedy sampler alone, so the probabilities are the softmax of
// the raw logits over the whole vocabulary (no top-k, penalties or bias).
const input = opts.ids.map((id, i) => (want.has(i) ? [id, { generateNext: { probabilities: true } }] : id));
const results = await sequence.controlledEvaluate(input, { temperature: 0 });
const t2 = performance.now();

let vocab = 0;
for (const r of results) if (r?.next?.probabilities) vocab = Math.max(vocab, r.next.probabilities.size);
if (vocab === 0) fail("node-llama-cpp returned no probabilities");
if (nVocab !== undefined && vocab !== nVocab) fail(`got ${vocab} probabilities, the vocabulary has ${nVocab}`);

const top1 = [];
const rows = new Float32Array(positions.length * vocab).fill(-Infinity);
positions.forEach((p, row) => {
  const probs = results[p]?.next?.probabilities;
  if (!probs) fail(`no probabilities for position ${p}`);
  top1.push(probs.keys().next().value); // the map is sorted, most probable first
  const base = row * vocab;
  for (const [tok, pr] of probs) rows[base + tok] = Math.log(pr);
});

const out = {
  kind: "logprobs",
  n_vocab: vocab,
  positions,
  top1,
  load_ms: Math.round(t1 - t0),
  eval_ms: Math.round(t2 - t1),
  convert_ms: Math.round(performance.now() - t2),
};
if (opts.bin) {
  writeFileSync(opts.bin, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
} else {
  out.logprobs = [];
  for (let r = 0; r < positions.length; r++) {
    out.logprobs.push(Array.from(rows.subarray(r * vocab, (r + 1) * vocab), (v) => (Number.isFinite(v) ? v : null)));
  }
}
process.stdout.write(JSON.stringify(out) + "\n");

await context.dispose();
await model.dispose();
await llama.dispose();
