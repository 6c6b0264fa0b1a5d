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

.PHONY: all build test unit lint fuzz deps bench bench-catchup bench-failover bench-scale bench-modes chaos chaos-quick chaos-kills demo clean packages package-check

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
	$(MAKE) vulncheck
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) package-check; else \
		echo "make test: package-check NOT RUN: it installs the .deb and needs root (sudo make package-check)" >&2; fi
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) chaos-quick; else \
		echo "make test: chaos-quick NOT RUN: it makes network namespaces and mounts and needs root (sudo make chaos-quick)" >&2; fi

# A bounded run of each fuzz target beyond its committed seed corpus
# (testdata/fuzz/), which every `go test` run replays anyway: the dynsec
# commands, the replication frames a follower decodes and applies, the
# configuration loader. About 50 s on two cores, plus building each
# instrumented test binary the first time (about a minute for sync/).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./dynsec/
	$(GO) test -run '^$$' -fuzz '^FuzzFollowerFrame$$' -fuzztime $(FUZZTIME) ./sync/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config/

# govulncheck against the Go vulnerability database, offline: a pinned
# golang.org/x/vulndb from the Go module proxy (scripts/vulncheck.sh).
# Fails when the code calls a vulnerable symbol of a module; standard
# library findings (fixed by a newer Go) are a warning unless
# VULNCHECK_STDLIB=fail.
.PHONY: vulncheck
vulncheck:
	GO=$(GO) ./scripts/vulncheck.sh

# Only the fast in-process tests.
unit:
	$(GO) test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags chaos ./chaos/...

# A three-node cluster on 127.0.0.1 behind HAProxy and triad-lbagent, until
# Ctrl-C (README). deps installs haproxy; build makes bin/triad-lbagent,
# which triad demo finds beside bin/triad. DEMOFLAGS go to triad demo, e.g.
# --base-port 31000, or --no-haproxy for the nodes alone.
demo: deps build
	bin/triad demo $(DEMOFLAGS)

# The fault harness (chaos/, built with the tag chaos; needs root): the
# three nodes, three etcd members, HAProxy + triad-lbagent and the clients
# each in a network namespace of its own. Under a recorded QoS 1/2 workload
# it partitions the leader and a follower, makes links lossy and slow,
# kills the leader, freezes it, loses one etcd member and then etcd's
# quorum, restarts HAProxy, kills triad-lbagent, fills a follower's disk
# and corrupts its state file (repaired with triadctl reinit); then it
# checks the whole history (docs/chaos.md) and prints a table and the line
#   scenarios=N operations=N lost=N duplicated=N split_brain=N ...
# chaos-quick is the CI subset, once (part of make test as root; about 4
# minutes); chaos runs every scenario TRIAD_CHAOS_ROUNDS times (default 3,
# about 20 minutes). TRIAD_CHAOS_ONLY=name,name runs only those;
# TRIAD_CHAOS_KEEP=DIR keeps a failed run's logs and data there.
chaos-quick: deps
	./scripts/chaos.sh quick

chaos: deps
	./scripts/chaos.sh full

# Fifty rounds under QoS 1/2 load on loopback, each killing the leader of
# a replicating cluster with -9 and then either freezing the new leader
# (SIGSTOP) or killing a follower; every acknowledged message must arrive
# and the nodes end with the same state (the suite's TestClusterChaos does
# 5 rounds). About 15 minutes.
chaos-kills: deps
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

# Scale: 20,000 persistent sessions with 10 QoS 1 subscriptions each
# through HAProxy, RSS per 10k sessions (and one standalone node's, the
# baseline), then kill -9 of the leader: time until 99% of the clients are
# back, session present and resubscribed (target <= 10 s; exit 1 if
# missed). It raises the open file limit (HAProxy needs two per client;
# the hard limit takes root with CAP_SYS_RESOURCE). SCALEFLAGS, e.g.
# -small (1000 clients), -conns 5000, -fit (as many as the limit allows).
bench-scale: deps build
	$(GO) run ./bench/scale $(SCALEFLAGS)

# Cluster modes: the same QoS 1 load through HAProxy on `triad demo --mode
# full`, then `--mode dynsec`, each node process under a 0.5 CPU budget
# (cgroup quota, as BENCH_NODE_CPU); loopback clients (each subscribed to
# its own topic) so publisher and subscriber share a node. A table with
# dynsec/full and the clients per node; exit 1 if an acknowledged message
# was not delivered. About 35 s. MODESFLAGS, e.g. -clients 60 -count 5000,
# -node-cpu 0 (the nodes share the machine), -json.
bench-modes: deps build
	$(GO) run ./bench/modes $(MODESFLAGS)

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
