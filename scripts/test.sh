#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the SQS and S3 test
# servers (pinned versions, from the Go module proxy), then go vet, a gofmt
# check and go test -race over every package.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

bash .ci/install-goaws.sh
bash .ci/install-versitygw.sh

unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 15m ./...
