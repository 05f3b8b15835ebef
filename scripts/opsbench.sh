#!/usr/bin/env bash
# Runs the operations benchmarks of docs/benchmarks.md (internal/testkit/opsbench)
# against real `secops-bot serve` processes, an SQS server and the Slack
# emulator, and prints the measured figures. Sizes default to the issue's targets;
# every one can be made smaller to try the harness on a busy machine:
#
#   SECOPS_OPSBENCH_RATE=1000 SECOPS_OPSBENCH_DURATION=60s   latency under background traffic
#   SECOPS_OPSBENCH_EVENTS=100000                           throughput
#   SECOPS_OPSBENCH_REPLICAS=1,2                            replicas of both, on PostgreSQL
#   SECOPS_OPSBENCH_DRIVER=sqlite                           both on SQLite instead (one replica)
#   SECOPS_OPSBENCH_STORED=10000000 SECOPS_OPSBENCH_DB=/tmp/opsbench-10m.db  memory
#
#   SECOPS_OPSBENCH_SQS=goaws                               goaws instead of the in-project SQS fake
#
# The SQS server is by default internal/testkit/sqsfake, served from the
# test process: like SQS, its long poll answers as soon as a message is
# visible. goaws looks every 100 ms, which with goaws bounds the latency.
# (The 30 s stalls once put down to goaws were the bot's HTTP client
# cutting a reply; every AWS client now sends its bodies from memory.)
#
# ONLY=latency|throughput|memory runs one of them. PostgreSQL is started with
# scripts/start-postgres.sh unless SECOPS_TEST_POSTGRES_DSN is already set;
# SECOPS_OPSBENCH_BIN runs a prebuilt binary (to compare two versions).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${ONLY:-all}" in
latency) run='^TestEventToPostLatency$' ;;
throughput) run='^TestThroughput$' ;;
memory) run='^TestResidentMemory$' ;;
all) run='^(TestEventToPostLatency|TestThroughput|TestResidentMemory)$' ;;
*) echo "opsbench: ONLY=$ONLY: want latency, throughput or memory" >&2; exit 2 ;;
esac

if [ "${SECOPS_OPSBENCH_SQS:-fake}" = goaws ]; then
	command -v goaws >/dev/null || [ -x "$(go env GOPATH)/bin/goaws" ] || ./.ci/install-goaws.sh
fi
if [ -z "${SECOPS_TEST_POSTGRES_DSN:-}" ] && [[ "${ONLY:-all}" =~ ^(all|throughput|latency)$ ]] && [ "${SECOPS_OPSBENCH_DRIVER:-postgres}" = postgres ]; then
	eval "$(./scripts/start-postgres.sh)"
fi

echo "== SQS server: ${SECOPS_OPSBENCH_SQS:-fake}"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
SECOPS_OPSBENCH=1 go test ./internal/testkit/opsbench -run "$run" -v -count 1 -timeout "${TIMEOUT:-90m}" >"$out" 2>&1 || status=$?
grep -E 'RESULT|^(=== RUN|--- (PASS|FAIL|SKIP))' "$out" | sed 's/^ *[a-z_]*_test.go:[0-9]*: //'
if [ "$status" != 0 ]; then
	tail -50 "$out" >&2
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
