#!/usr/bin/env bash
# Measures `secops-bot replay` with every rule of config.example.yaml against
# a jq filter that only selects one event name, on the same generated JSON
# Lines corpus, in the same run; the target is a replay at least 5 times
# faster than the filter. With BENCH_GO=1 it then runs the Go benchmarks
# quoted in docs/benchmarks.md. Times are medians of RUNS runs (hyperfine
# when installed, else /usr/bin/time), because shared machines are noisy.
#
#   EVENTS=200000 RUNS=5 JQ=/usr/bin/jq ./scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

events="${EVENTS:-200000}"
runs="${RUNS:-5}"
jq="${JQ:-$(command -v jq || true)}"
work="${BENCH_DIR:-$(mktemp -d)}"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
if [ -z "$jq" ]; then
	echo "bench: jq is needed as the baseline (set JQ=path)" >&2
	exit 1
fi

bin="$work/secops-bot"
corpus="$work/corpus.jsonl"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== build"
CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/secops-bot
echo "== corpus: $events events, seed 1"
"$bin" corpus --events "$events" --seed 1 --out "$corpus" 2>"$work/planted.txt"
echo "$(wc -l <"$work/planted.txt") planted exposures, $(($(stat -c %s "$corpus") / 1048576)) MiB"

replay_cmd="$bin --config config.example.yaml replay $corpus"
jq_cmd="$jq -c 'select(.eventName==\"PutBucketPolicy\")' $corpus"

# The replay must find exactly the planted exposures, or its speed means
# nothing.
found="$(eval "$replay_cmd" --format json 2>/dev/null | grep -c '"status":"open"' || true)"
if [ "$found" != "$(wc -l <"$work/planted.txt")" ]; then
	echo "bench: replay found $found open findings, want one per planted exposure" >&2
	exit 1
fi

median_seconds() { # command...: median wall time of $runs runs
	local t=()
	for _ in $(seq "$runs"); do
		t+=("$({ /usr/bin/time -f %e bash -c "$1" >/dev/null 2>/dev/null; } 2>&1 | tail -1)")
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

echo "== timing ($runs runs each, median)"
if command -v hyperfine >/dev/null; then
	hyperfine --warmup 1 --runs "$runs" --export-json "$work/hyperfine.json" \
		-n replay "$replay_cmd" -n jq "$jq_cmd" >&2
	replay_s="$("$jq" -r '.results[] | select(.command=="replay") | .median' "$work/hyperfine.json")"
	jq_s="$("$jq" -r '.results[] | select(.command=="jq") | .median' "$work/hyperfine.json")"
else
	replay_s="$(median_seconds "$replay_cmd")"
	jq_s="$(median_seconds "$jq_cmd")"
fi
awk -v n="$events" -v r="$replay_s" -v j="$jq_s" 'BEGIN {
	printf "replay (all rules): %.3f s  %8.0f events/s\n", r, n / r
	printf "jq select:          %.3f s  %8.0f events/s\n", j, n / j
	printf "replay is %.2fx the jq filter (target: 5x) -> %s\n", j / r, (j / r >= 5 ? "met" : "MISSED")
}'
/usr/bin/time -f "replay peak memory: %M KiB" bash -c "$replay_cmd >/dev/null 2>/dev/null"

if [ "${BENCH_GO:-0}" = 1 ]; then
	echo "== Go benchmarks"
	go test ./store/sqlite -run '^$' -bench 'AddEvents$' -benchtime 200000x -count "$runs"
	go test ./pipeline -run '^$' -bench ServeIngest -benchtime 1x -count "$runs"
	go test ./internal/app -run '^$' -bench 'Replay$' -benchtime 3x -count "$runs"
	go test ./detect -run '^$' -bench Engine -count "$runs"
	go test ./ingest -run '^$' -bench 'ParseJSONL|WalkJSONL' -count "$runs"
fi
