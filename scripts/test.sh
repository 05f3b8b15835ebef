#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the SQS and S3 test
# servers (pinned versions, from the Go module proxy), starts a private
# PostgreSQL for the store's conformance suite (and stops it afterwards
# when it started it), then go vet, a gofmt check and go test -race over
# every package.
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
# A cluster started for this run is stopped when it ends; one that was
# already running (a developer's) is left as it was.
if [ "${SECOPS_PG_STARTED:-0}" = 1 ]; then
	trap 'bash scripts/start-postgres.sh stop' EXIT
fi

unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 15m ./...

# The story tests again, with the bot's clock a month and a year after
# today: a test that passes only near the day its fixtures were written
# fails here, not on a fresh clone some weeks later.
for shift in 744h 8784h; do
	echo "story tests with the clock $shift ahead"
	SECOPS_TEST_CLOCK_SHIFT=$shift go test -race -count=1 -timeout 5m -run 'Story|Investigate' ./internal/app/
done
