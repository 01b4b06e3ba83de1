# kafkad — two commands matter to a newcomer: `make run` and `make test`.
GO       ?= go
BIN      := bin
DATA     ?= ./data
LISTEN   ?= PLAINTEXT://localhost:9092
# Test timeout for the whole suite; CI allows 90 minutes, we aim far below.
TEST_TIMEOUT ?= 25m

.PHONY: all build run test test-unit test-integration bench fuzz vet fmt clean tools compat compat-tools

all: build

build:
	$(GO) build -o $(BIN)/kafkad ./cmd/kafkad
	$(GO) build -o $(BIN)/kbench ./cmd/kbench

# One broker on localhost:9092 with embedded etcd, data under ./data.
run: build
	$(BIN)/kafkad --log.dirs=$(DATA) --listeners=$(LISTEN)

# Everything the tests need: Go modules (etcd runs embedded in the tests)
# and the compatibility suite's clients.
tools: compat-tools
	$(GO) mod download

# The compatibility suite's clients, installed under .cache/ (kept between
# runs; a stamp per client is redone when its pinned versions change):
# kcat from Debian, Apache Kafka's Java client and tools from Maven Central
# (two releases, see KAFKA_NEXT), confluent-kafka from PyPI, kafkajs from npm.
CACHE := $(CURDIR)/.cache
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The Java checks run against two Apache Kafka releases: the one pinned in
# integration/java/pom.xml (jars in .cache/java/lib, which the transaction
# tests use too) and KAFKA_NEXT, the same pom with kafka.version overridden
# (jars in .cache/java-$(KAFKA_NEXT)/lib), also `make bench`'s reference.
# integration/compat_java_test.go names both versions.
KAFKA_NEXT := 4.4.0
compat-tools: $(CACHE)/kcat.stamp $(CACHE)/java.stamp $(CACHE)/java-$(KAFKA_NEXT).stamp $(CACHE)/python.stamp $(CACHE)/node.stamp

$(CACHE)/kcat.stamp:
	@mkdir -p $(CACHE)
	command -v kcat >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq kcat; }
	@touch $@

$(CACHE)/java.stamp: integration/java/pom.xml
	@mkdir -p $(CACHE)/java
	rm -rf $(CACHE)/java/lib
	mvn -q -B -f integration/java/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CACHE)/java/lib
	@touch $@

# The stamp's name carries the version, so a new KAFKA_NEXT is installed
# beside the old one (in its own directory) rather than over it.
$(CACHE)/java-$(KAFKA_NEXT).stamp: integration/java/pom.xml
	@mkdir -p $(CACHE)/java-$(KAFKA_NEXT)
	rm -rf $(CACHE)/java-$(KAFKA_NEXT)/lib
	mvn -q -B -f integration/java/pom.xml -Dkafka.version=$(KAFKA_NEXT) -Dno.connect dependency:copy-dependencies -DoutputDirectory=$(CACHE)/java-$(KAFKA_NEXT)/lib
	@touch $@

$(CACHE)/python.stamp: integration/python/requirements.txt
	python3 -m venv $(CACHE)/venv
	$(CACHE)/venv/bin/pip install -q --disable-pip-version-check -r integration/python/requirements.txt
	@touch $@

$(CACHE)/node.stamp: integration/js/package.json integration/js/package-lock.json
	@mkdir -p $(CACHE)/node
	cp integration/js/package.json integration/js/package-lock.json $(CACHE)/node/
	cd $(CACHE)/node && npm ci --silent --no-audit --no-fund
	@touch $@

# The compatibility suite alone, ending with its report table.
compat: compat-tools
	KAFKAD_COMPAT_REPORT=$(CACHE)/compat-report.md $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run '^TestCompat' ./integration/ ; \
		status=$$?; cat $(CACHE)/compat-report.md 2>/dev/null; \
	KAFKAD_COMPAT_BROKERS=3 KAFKAD_COMPAT_REPORT=$(CACHE)/compat-report-3.md $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run $(COMPAT_CLIENTS) ./integration/ ; \
		status3=$$?; cat $(CACHE)/compat-report-3.md 2>/dev/null; [ $$status = 0 ] && [ $$status3 = 0 ]

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

test: tools vet test-unit test-integration

# Unit and package tests, with the race detector.
test-unit:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /integration)

# End-to-end tests: real kafkad processes, real etcd, real clients.
# The client compatibility checks run a second time against three brokers.
COMPAT_CLIENTS := '^TestCompat(Kcat|FranzGoClient|Sarama|KafkaGo|Java|Python|KafkaJS)'
test-integration:
	KAFKAD_COMPAT_REPORT=$(CACHE)/compat-report.md $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./integration/... ; \
		status=$$?; cat $(CACHE)/compat-report.md 2>/dev/null; \
	KAFKAD_COMPAT_BROKERS=3 KAFKAD_COMPAT_REPORT=$(CACHE)/compat-report-3.md $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run $(COMPAT_CLIENTS) ./integration/ ; \
		status3=$$?; cat $(CACHE)/compat-report-3.md 2>/dev/null; [ $$status = 0 ] && [ $$status3 = 0 ]

# Throughput and latency of a fresh kafkad against a fresh Apache Kafka
# $(KAFKA_NEXT) (the reference, from the compatibility suite's jars), one
# after the other on this machine: franz-go workloads and Kafka's perf
# tools, reported as kafkad/Kafka ratios. `bin/kbench --kafkad=bin/kafkad`
# alone needs no Java.
bench: build $(CACHE)/java-$(KAFKA_NEXT).stamp
	$(BIN)/kbench --kafkad=$(BIN)/kafkad --kafka-lib=$(CACHE)/java-$(KAFKA_NEXT)/lib --rf3

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
	rm -rf $(BIN) $(CACHE)
