# kafkad — two commands matter to a newcomer: `make run` and `make test`.
GO       ?= go
BIN      := bin
DATA     ?= ./data
LISTEN   ?= PLAINTEXT://localhost:9092
# Test timeout for the whole suite; CI allows 90 minutes, we aim far below.
TEST_TIMEOUT ?= 25m

.PHONY: all build run test test-unit test-integration bench fuzz vet fmt clean tools

all: build

build:
	$(GO) build -o $(BIN)/kafkad ./cmd/kafkad
	$(GO) build -o $(BIN)/kbench ./cmd/kbench

# One broker on localhost:9092 with embedded etcd, data under ./data.
run: build
	$(BIN)/kafkad --log.dirs=$(DATA) --listeners=$(LISTEN)

# Everything the tests need comes from the Go module proxy (etcd runs
# embedded in the tests), so `go mod download` is the whole install step.
tools:
	$(GO) mod download

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

test: tools vet test-unit test-integration

# Unit and package tests, with the race detector.
test-unit:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /integration)

# End-to-end tests: real kafkad processes, real etcd, real clients.
test-integration:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./integration/...

# Throughput and latency against a fresh broker (franz-go producer/consumer).
bench: build
	$(BIN)/kbench --kafkad=$(BIN)/kafkad

# A short run of every fuzz target.
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
