#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the SQS and S3 test
# servers (pinned versions, from the Go module proxy), starts a private
# PostgreSQL for the store's conformance suite, then go vet, a gofmt check
# and go test -race over every package.
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

unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 15m ./...
