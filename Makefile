# Triad — see README.md. `make test` and `make demo` install what they need.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/triadmq/triad/version.Version=$(VERSION)
BINS    := triad triadctl triad-lbagent
TESTFLAGS ?= -race -count=1 -timeout 30m
# An execution count, not a duration: with a duration Go 1.26's fuzz
# coordinator can fail at the deadline with "context deadline exceeded" and
# no crasher (golang/go#75804, fixed in Go 1.27).
FUZZTIME  ?= 100000x

.PHONY: all build test unit lint fuzz deps bench bench-catchup bench-failover chaos demo clean packages package-check

all: build

build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(BINS))

deps:
	@./scripts/deps.sh

# The test suite: real triad processes, real MQTT clients (paho and
# Debian's mosquitto-clients), fault tests included.
test: deps lint
	$(GO) test $(TESTFLAGS) ./...
	$(MAKE) fuzz
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) package-check; else \
		echo "make test: package-check NOT RUN: it installs the .deb and needs root (sudo make package-check)" >&2; fi

# A bounded run of each fuzz target beyond its committed seed corpus
# (testdata/fuzz/), which every `go test` run replays anyway; about 20 s on
# two cores.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./dynsec/

# Only the fast in-process tests.
unit:
	$(GO) test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# A three-node cluster on 127.0.0.1 behind HAProxy and triad-lbagent, until
# Ctrl-C (README). deps installs haproxy; build makes bin/triad-lbagent,
# which triad demo finds beside bin/triad. DEMOFLAGS go to triad demo, e.g.
# --base-port 31000, or --no-haproxy for the nodes alone.
demo: deps build
	bin/triad demo $(DEMOFLAGS)

# The long fault test: fifty rounds under QoS 1/2 load, each killing the
# leader of a replicating cluster with -9 and then either freezing the new
# leader (SIGSTOP) or killing a follower; every acknowledged message must
# arrive and the nodes end with the same state (the suite's TestClusterChaos
# does 5 rounds).
chaos: deps
	TRIAD_CHAOS_ROUNDS=$${TRIAD_CHAOS_ROUNDS:-50} $(GO) test -race -count=1 -timeout 60m -v -run 'TestClusterChaos$$' ./e2e/

# Throughput and latency: triad (durable) vs plain mochi vs Debian mosquitto.
bench: deps build
	./bench/run.sh

# Failover as a client sees it: a QoS 1 round trip through HAProxy every
# 10 ms while the leader is stopped (SIGTERM), crashed (kill -9 + lease
# revoke) and frozen (SIGSTOP), 20 times each; p50/p99/max of the window
# without a round trip against the issue's targets (exit 1 if one is missed).
bench-failover: deps build
	$(GO) run ./bench/failover $(FAILOVERFLAGS)

# Follower catch-up: 100k sessions + 100k retained messages (TRIAD_CATCHUP_N)
# to a wiped follower and to one that was down, while the leader writes.
bench-catchup:
	$(GO) test -run '^$$' -bench BenchmarkCatchup -benchtime 1x -timeout 20m ./sync/

# Regenerates sync/pb from sync/pb/sync.proto with pinned tools, installed
# through the Go module proxy into bin/tools (buf compiles the proto itself:
# no protoc needed). The generated code is committed.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
TOOLS                      := $(CURDIR)/bin/tools
proto:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd sync/pb && PATH="$(TOOLS):$$PATH" buf generate

# .deb and .rpm with nfpm (a tool pinned in go.mod): static binaries
# stamped with VERSION, the units, configs and docs (packaging/nfpm.yaml).
PKG_VERSION ?= $(shell ./scripts/pkg-version.sh)
packages:
	rm -rf dist && mkdir -p dist/bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o dist/bin/ $(addprefix ./cmd/,$(BINS))
	PKG_VERSION=$(PKG_VERSION) $(GO) tool nfpm package --config packaging/nfpm.yaml \
		--packager deb --target dist/triad_$(PKG_VERSION)_amd64.deb
	PKG_VERSION=$(PKG_VERSION) $(GO) tool nfpm package --config packaging/nfpm.yaml \
		--packager rpm --target dist/triad-$(PKG_VERSION)-1.x86_64.rpm

# Installs the .deb on this machine (root), checks it, purges it; inspects
# the .rpm. Part of `make test` when run as root (CI).
package-check: packages
	VERSION=$(VERSION) PKG_VERSION=$(PKG_VERSION) ./scripts/package-check.sh

clean:
	rm -rf bin dist
