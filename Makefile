# Developer entry points. `make test` is what CI runs.
GO ?= go
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN_DIR):$(PATH)

.PHONY: build test test-servers vet fmt bench opsbench fuzz

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o secops-bot ./cmd/secops-bot

# Installs the test servers (SQS, S3), starts PostgreSQL when available and
# runs every test with the race detector.
test:
	./scripts/test.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

bench:
	./scripts/bench.sh

# Latency, replica throughput and memory with real serve processes
# (docs/benchmarks.md); minutes at full size.
opsbench:
	./scripts/opsbench.sh

FUZZTIME ?= 30s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)
