#!/usr/bin/env bash
# A second prune of the same model and target at another ratio, against the
# first (issue 15): the first scores and caches, the second selects from the
# cache (and reuses the dense model's evaluation). Prints each run's wall
# time, the median of REPS runs and the ratio first/second.
#   REPS (default 3) repetitions for tiny-multi; the synthetic Qwen2.5-0.5B
#   shape runs once, with --eval=false (its evaluation alone is minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=bin/cusprun
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/cusprun
SHARED=${CUSPRUN_SHARED:-../shared}
REPS=${REPS:-3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

bench() { # NAME MODEL REPS FLAGS...
	local name=$1 model=$2 reps=$3 i
	shift 3
	local f=() s=()
	for i in $(seq "$reps"); do
		rm -rf "$W/cache" "$W"/e*
		f+=("$(secs "$BIN" prune --model "$model" --language de --out "$W/e1" --ratio 0.2 --cache "$W/cache" --quiet "$@")")
		s+=("$(secs "$BIN" prune --model "$model" --language de --out "$W/e2" --ratio 0.3 --cache "$W/cache" --quiet "$@")")
	done
	local mf ms
	mf=$(printf '%s\n' "${f[@]}" | median)
	ms=$(printf '%s\n' "${s[@]}" | median)
	printf '%-40s first %s s (median of %s), second %s s: %.1fx\n' "$name" "$mf" "$reps" "$ms" "$(awk -v a="$mf" -v b="$ms" 'BEGIN {print a / b}')"
	printf '    first runs: %s; second runs: %s\n' "${f[*]}" "${s[*]}"
}

bench "tiny-multi, --eval=false" "$SHARED/models/tiny-multi" "$REPS" --eval=false
bench "tiny-multi, with evaluation" "$SHARED/models/tiny-multi" "$REPS"
"$BIN" synth --family qwen2 --shape qwen2.5-0.5b --out "$W/qwen" >/dev/null
bench "synthetic qwen2.5-0.5b, --eval=false" "$W/qwen" 1 --eval=false
