#!/usr/bin/env node
// Reference encoder: Hugging Face's Rust tokenizers (npm tokenizers@0.23.2).
//
//   node hf_encode.js TOKENIZER_JSON [--special] [--add-special] < strings.json > out.json
//
// stdin: a JSON array of strings. stdout: a JSON array, one {"ids":[...],
// "decoded":"..."} per string (decoded = decode(ids), special tokens kept).
// Without --special, special added tokens are plain text (HF's
// encode_special_tokens=true, which the node binding does not expose,
// emulated by renaming them to text that never occurs, so ids stay put;
// non-special added tokens such as Qwen3's <think> still match). Without
// --add-special, the post-processor adds nothing (no BOS).
// Module lookup: CUSPRUN_DEPS/node_modules (default <repo>/.deps).
'use strict';
const fs = require('fs');
const path = require('path');
const deps = process.env.CUSPRUN_DEPS || path.join(__dirname, '..', '..', '.deps');
const { Tokenizer } = require(path.join(deps, 'node_modules', 'tokenizers'));

async function main() {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  const special = args.includes('--special');
  const addSpecial = args.includes('--add-special');
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!special && Array.isArray(j.added_tokens)) {
    for (const t of j.added_tokens) {
      if (t.special) t.content = '\u0000cusprun-special-' + t.id + '\u0000';
    }
  }
  const tok = Tokenizer.fromString(JSON.stringify(j));
  const inputs = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const s of inputs) {
    const enc = await tok.encode(s, null, { addSpecialTokens: addSpecial });
    const ids = Array.from(enc.getIds());
    const decoded = await tok.decode(ids, false);
    out.push({ ids, decoded });
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
