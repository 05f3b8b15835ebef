#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the SQS and S3 test
# servers (pinned versions, from the Go module proxy), starts a private
# PostgreSQL for the store's conformance suite (and stops it afterwards
# when it started it), then go vet, a gofmt check and go test -race over
# every package, and the story tests again with the clock moved ahead.
# Nothing it started outlives it, whether it passes, fails or is
# interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

bash .ci/install-goaws.sh
bash .ci/install-versitygw.sh

# The assignment fails the script when PostgreSQL cannot start (eval of a
# failed substitution would not).
pg_env="$(bash scripts/start-postgres.sh)"
eval "$pg_env"
if [ -z "${SECOPS_TEST_POSTGRES_DSN:-}" ]; then
	echo "scripts/start-postgres.sh did not set SECOPS_TEST_POSTGRES_DSN"; exit 1
fi
# When the run ends, however it ends: the jobs it left in the background
# are stopped with everything they started (each runs in its own process
# group), and a cluster started for this run is stopped; one that was
# already running (a developer's) is left as it was.
work="$(mktemp -d)"
bg_pids=()
cleanup() {
	for pid in "${bg_pids[@]}"; do
		kill -- -"$pid" 2>/dev/null || true
	done
	rm -rf "$work"
	if [ "${SECOPS_PG_STARTED:-0}" = 1 ]; then
		bash scripts/start-postgres.sh stop
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
# go test counts a package whose tests are running against -p, which is
# the number of cores by default, and builds nothing else meanwhile: on two
# cores, internal/app and internal/testkit/replicatest, whose tests mostly
# wait for the bot, would hold up every other package for minutes. Four
# lets the rest build and run beside them.
go test -race -count=1 -p 4 -timeout 15m ./...

# The story tests again, with the bot's clock a month and a year after
# today: a test that passes only near the day its fixtures were written
# fails here, not on a fresh clone some weeks later. What they look for is
# a dependence on the date, which the race detector does not help find
# (the pass above ran them with it), so both runs go at once, without it,
# from one build of the package's tests.
shifts=(744h 8784h)
go test -c -o "$work/app.test" ./internal/app/
for shift in "${shifts[@]}"; do
	(cd internal/app && SECOPS_TEST_CLOCK_SHIFT=$shift exec setsid "$work/app.test" \
		-test.count=1 -test.timeout=5m -test.run 'Story|Investigate') >"$work/story-$shift.log" 2>&1 &
	bg_pids+=("$!")
done
failed=0
for i in "${!shifts[@]}"; do
	if wait "${bg_pids[$i]}"; then
		echo "ok  story tests with the clock ${shifts[$i]} ahead"
	else
		echo "FAIL story tests with the clock ${shifts[$i]} ahead:"
		cat "$work/story-${shifts[$i]}.log"
		failed=1
	fi
done
bg_pids=()
exit "$failed"
