#!/usr/bin/env bash
# Peak memory of pruning models larger than a browser tab's memory (issue 7):
# native `cusprun prune` on synthetic qwen2.5-1.5b (~3 GB bf16) and
# phi-3-mini (~7.6 GB bf16), peak RSS by /usr/bin/time -v; and --engine wasm
# on qwen2.5-1.5b, peak linear memory as wazero reports it.
#
#   ./build.sh bench memory            (MEMORY_SHAPES="qwen2.5-1.5b phi-3-mini", MEMORY_WASM=1)
#
# Models are cached in $CUSPRUN_DEPS/bench. Calibration is kept small
# (4 documents of 32 tokens): memory is bounded by one layer plus the batch,
# not by the corpus, which is what this measures.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEPS=${CUSPRUN_DEPS:-$PWD/.deps}
mkdir -p "$DEPS/bench"
bin=bin/cusprun
[ -x $bin ] || go build -o $bin ./cmd/cusprun
shapes=${MEMORY_SHAPES:-"qwen2.5-1.5b phi-3-mini"}
printf '| model | engine | file size | wall s | peak memory | command |\n|---|---|---|---|---|---|\n'
for shape in $shapes; do
	fam=qwen2
	case $shape in phi-3*) fam=phi3 ;; esac
	m=$DEPS/bench/$fam-$shape
	[ -d "$m" ] || $bin synth --family $fam --shape "$shape" --dtype bf16 --out "$m" >&2
	size=$(du -sh "$m" | cut -f1)
	engines="cpu"
	[ "${MEMORY_WASM:-1}" = 1 ] && [ "$shape" = qwen2.5-1.5b ] && engines="cpu wasm"
	for eng in $engines; do
		out=$(mktemp -d)/expert
		args=(prune --model "$m" --language de --ratio 0.25 --out "$out" --max-docs 4 --max-tokens 32 --eval=false --engine $eng)
		log=$(mktemp)
		/usr/bin/time -v $bin "${args[@]}" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
		rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); printf "%.0f MiB RSS", $2/1024}' "$log")
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
		if [ $eng = wasm ]; then
			rss="$rss; $(grep -o 'peak linear memory [0-9.]* MiB' "$log" | tail -1)"
		fi
		printf '| %s %s | %s | %s | %s | %s | `cusprun %s` |\n' $fam "$shape" $eng "$size" "$wall" "$rss" "${args[*]//$DEPS/\$DEPS}"
		rm -rf "$(dirname "$out")" "$log"
	done
done
