#!/usr/bin/env bash
# The benchmark figures of docs/benchmarks.md, measured on this machine and
# printed one line each with the target and whether it was met:
#
#   replay vs jq, generated corpus      replay against jq -c 'select(.eventName=="PutBucketPolicy")'
#   replay vs jq, 400 actors/50 accounts  the same on a larger organisation's stream
#   replay, 100 Sigma rules, vs jq      the generated corpus with 100 rules loaded
#   replay throughput kept with 100 Sigma rules   the same replay without the rules over with them
#   replay peak memory                  maximum resident size of that replay
#   (BENCH_GO=1)   SQLite ingestion with 1,000,000 events stored, in the batches
#                  of 8,192 the bot commits under backlog
#   (BENCH_LONG=1) /secops investigate p99 at 10,000,000 stored events (builds a
#                  store of about 2 GB once, kept in $BENCH_DIR; about 10 minutes)
#
# A and B of a comparison run interleaved (A B A B …) so that both see the
# same load, and the ratio is the median of the per-pair ratios. Whatever
# cannot be measured (a command that fails, a missing tool, a time of zero)
# ends the script with an error: it never prints a figure it did not
# measure. Event-to-Slack latency and replica throughput are `make
# opsbench`.
#
#   EVENTS=200000 CROWD_EVENTS=100000 RUNS=7 JQ=/usr/bin/jq ./scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

events="${EVENTS:-200000}"
crowd_events="${CROWD_EVENTS:-100000}"
runs="${RUNS:-7}"
jq="${JQ:-$(command -v jq || true)}"
work="${BENCH_DIR:-$(mktemp -d)}"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"

die() { echo "bench: $*" >&2; exit 1; }
[ -n "$jq" ] || die "jq is the baseline and is not installed (Debian: apt-get install jq; or set JQ=path)"
[ "$runs" -ge 3 ] || die "RUNS=$runs: at least 3 runs are needed for a median"

results=()
record() { # name value unit target op met
	results+=("$(printf '%-40s %12s %-8s target %s %-10s %s' "$1" "$2" "$3" "$5" "$4" "$6")")
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
bin="$work/secops-bot"
echo "== build"
CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/secops-bot

# elapsed_ns CMD: runs CMD once, output discarded, and prints its wall time
# in nanoseconds; a failing command ends the script.
elapsed_ns() {
	local start end
	start=$(date +%s%N)
	if ! bash -c "$1" >/dev/null 2>"$work/stderr"; then
		tail -5 "$work/stderr" >&2
		die "command failed: $1"
	fi
	end=$(date +%s%N)
	echo $((end - start))
}

median() { sort -g | awk '{a[NR]=$1} END { if (NR == 0) exit 1; print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) }'; }

# compare NAME A B EVENTS TARGET [UNIT]: A and B interleaved RUNS times
# after one warm-up each; records A's median, B's and the median of B/A
# (UNIT names what B is: "x jq" by default).
compare() {
	local name="$1" a="$2" b="$3" n="$4" target="$5" unit="${6:-x jq}" ta tb
	local as=() bs=() rs=()
	elapsed_ns "$a" >/dev/null
	elapsed_ns "$b" >/dev/null
	for _ in $(seq "$runs"); do
		ta=$(elapsed_ns "$a")
		tb=$(elapsed_ns "$b")
		[ "$ta" -gt 0 ] && [ "$tb" -gt 0 ] || die "$name: a time of zero cannot be a measurement"
		as+=("$ta")
		bs+=("$tb")
		rs+=("$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.4f", b / a }')")
	done
	local ma mb mr
	ma=$(printf '%s\n' "${as[@]}" | median)
	mb=$(printf '%s\n' "${bs[@]}" | median)
	mr=$(printf '%s\n' "${rs[@]}" | median)
	printf '   %s: A %.3f s (%.0f events/s), B %.3f s; ratios B/A %s\n' "$name" \
		"$(awk -v v="$ma" 'BEGIN{print v/1e9}')" "$(awk -v v="$ma" -v n="$n" 'BEGIN{print n/(v/1e9)}')" \
		"$(awk -v v="$mb" 'BEGIN{print v/1e9}')" "${rs[*]}"
	local met
	met=$(awk -v r="$mr" -v t="$target" 'BEGIN { print (r >= t ? "met" : "MISSED") }')
	local shown=">= ${target}x"
	[ "$unit" = "x jq" ] || shown=">= ${target}"
	record "$name" "$(printf '%.2f' "$mr")" "$unit" "$met" "$shown" ""
}

# corpus NAME EVENTS ARGS: writes a corpus and checks that replay finds
# exactly its planted exposures, or its speed would mean nothing.
corpus() {
	local file="$work/$1.jsonl"
	"$bin" corpus --events "$2" --seed 1 $3 --out "$file" 2>"$work/$1.planted"
	local want found
	want=$(wc -l <"$work/$1.planted")
	found=$("$bin" --config config.example.yaml replay --format json "$file" 2>/dev/null | grep -c '"status":"open"' || true)
	[ "$found" = "$want" ] || die "$1: replay found $found open findings, want one per planted exposure ($want)"
	echo "   $1: $2 events, $(($(stat -c %s "$file") / 1048576)) MiB, $want planted exposures found" >&2
	echo "$file"
}

echo "== corpora"
gen=$(corpus generated "$events" "")
crowd=$(corpus crowd "$crowd_events" "--actors 400 --accounts 50")

echo "== replay against jq ($runs interleaved pairs each)"
select='select(.eventName=="PutBucketPolicy")'
compare "replay vs jq, generated corpus" "$bin --config config.example.yaml replay $gen" "$jq -c '$select' $gen" "$events" 5
compare "replay vs jq, 400 actors in 50 accounts" "$bin --config config.example.yaml replay $crowd" "$jq -c '$select' $crowd" "$crowd_events" 5
# The same replay with 100 generated Sigma rules loaded (none matches).
"$bin" corpus --events 0 --sigma-rules "$work/sigma" --sigma-count 100 >/dev/null 2>&1 || die "could not write the Sigma rules"
sed "s|^  dirs: \[\]|  dirs: [$work/sigma]|" config.example.yaml >"$work/sigma.yaml"
"$bin" --config "$work/sigma.yaml" check-config 2>/dev/null | grep -q "100 Sigma rules" || die "replay would not load the 100 Sigma rules"
compare "replay, 100 Sigma rules, vs jq" "$bin --config $work/sigma.yaml replay $gen" "$jq -c '$select' $gen" "$events" 4
# The share of its throughput replay keeps with the rules: without them
# (B) over with them (A).
compare "replay throughput kept with 100 Sigma rules" "$bin --config $work/sigma.yaml replay $gen" "$bin --config config.example.yaml replay $gen" "$events" 0.85 "of it"

echo "== replay peak memory"
[ -x /usr/bin/time ] || die "/usr/bin/time is needed to read peak memory (Debian: apt-get install time)"
peaks=()
for _ in $(seq 3); do
	/usr/bin/time -f %M -o "$work/rss" "$bin" --config config.example.yaml replay "$gen" >/dev/null 2>&1 || die "replay failed"
	kib=$(tail -1 "$work/rss")
	[[ "$kib" =~ ^[0-9]+$ ]] && [ "$kib" -gt 0 ] || die "no peak memory read (got '$kib')"
	peaks+=("$kib")
done
peak=$(printf '%s\n' "${peaks[@]}" | median)
record "replay peak memory ($events events)" "$(awk -v k="$peak" 'BEGIN{printf "%.0f", k/1024}')" "MiB" \
	"$(awk -v k="$peak" 'BEGIN { print (k/1024 <= 256 ? "met" : "MISSED") }')" "<= 256 MiB" ""

# gobench PKG BENCH METRIC ARGS: runs one Go benchmark RUNS times and
# prints the median of METRIC; fails when the benchmark reports none.
gobench() {
	local out="$work/gobench.txt"
	go test "$1" -run '^$' -bench "$2" -count "$runs" ${4:-} >"$out" 2>&1 || { tail -20 "$out" >&2; die "go test -bench $2 in $1 failed"; }
	local v
	v=$(awk -v m="$3" '{ for (i = 2; i <= NF; i++) if ($i == m) print $(i-1) }' "$out" | median) || die "$2 reported no $3"
	echo "$v"
}

if [ "${BENCH_GO:-0}" = 1 ]; then
	echo "== SQLite ingestion"
	v=$(gobench ./store/sqlite 'AddEvents$' events/s "-benchtime 1000000x -timeout 30m")
	record "SQLite ingestion, 1M events, batch 8192" "$(printf '%.0f' "$v")" "events/s" \
		"$(awk -v v="$v" 'BEGIN { print (v >= 80000 ? "met" : "MISSED") }')" ">= 80000/s" ""
fi

if [ "${BENCH_LONG:-0}" = 1 ]; then
	echo "== investigate at 10,000,000 stored events (the store is built once in $work)"
	v=$(SECOPS_BENCH_EVENTS=10000000 SECOPS_BENCH_DB="$work/history-10m.db" gobench ./respond/investigate 'Investigate$' p99-ms "-benchtime 2000x -timeout 0")
	record "/secops investigate p99, 10M events" "$(printf '%.1f' "$v")" "ms" \
		"$(awk -v v="$v" 'BEGIN { print (v <= 30 ? "met" : "MISSED") }')" "<= 30 ms" ""
fi

echo "== results"
missed=0
for r in "${results[@]}"; do
	echo "$r"
	case "$r" in *MISSED*) missed=$((missed + 1)) ;; esac
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$missed" = 0 ] || echo "$missed target(s) missed"
