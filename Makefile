# asagent build and test entry points. `make test` is what CI runs.

GO          ?= go
# Linter pinned and run with `go run pkg@version` so its dependencies stay out of go.mod.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The packager, pinned the same way.
NFPM        ?= github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
VPKG    := github.com/asagent/asagent/internal/version
LDFLAGS := -s -w -X $(VPKG).Version=$(VERSION) -X $(VPKG).Commit=$(COMMIT)

# Release targets: Huawei Cloud offers x86 and Kunpeng (arm64) Linux images and Windows images.
PLATFORMS := linux/amd64 linux/arm64 windows/amd64

.PHONY: all build cross test fmt-check vet cross-vet lint unit clean package bench

all: test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/asagent ./cmd/asagent

cross:
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "build $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o bin/asagent-$$os-$$arch$$ext ./cmd/asagent; \
	done

# Packages: .deb and .rpm for each architecture, into $(DIST). The package
# version is semver from git, which nfpm turns into each format's syntax: a tag
# v1.2.3 gives 1.2.3, commits after it 1.2.3+4.gCOMMIT (sorting after 1.2.3),
# and an untagged tree 0.0.0-git.COMMIT (a pre-release: 0.0.0~git.COMMIT).
# Each package also gets a copy under a name that does not change between
# releases (packaging/latest-name.sh: asagent_latest_amd64.deb,
# asagent-latest.x86_64.rpm), which user data can download, and SHA256SUMS
# lists them all, for it to verify.
DIST        ?= dist
PKG_ARCHS   ?= amd64 arm64
PKG_FORMATS ?= deb rpm
PKG_VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//; s/-\([0-9][0-9]*\)-g\([0-9a-f]*\)$$/+\1.g\2/'); [ -n "$$v" ] && echo "$$v" || echo "0.0.0-git.$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")

package:
	@set -e; stage=$(DIST)/stage; mkdir -p $$stage; \
	sed "s#dist/stage/asagent#$$stage/asagent#" packaging/nfpm.yaml > $$stage/nfpm.yaml; \
	for arch in $(PKG_ARCHS); do \
		echo "build linux/$$arch"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$stage/asagent ./cmd/asagent; \
		for f in $(PKG_FORMATS); do \
			rm -rf $$stage/out; mkdir $$stage/out; \
			ARCH=$$arch VERSION='$(PKG_VERSION)' $(GO) run $(NFPM) package --config $$stage/nfpm.yaml --packager $$f --target $$stage/out/; \
			pkg=$$(ls $$stage/out); mv $$stage/out/$$pkg $(DIST)/; \
			cp $(DIST)/$$pkg $(DIST)/$$(./packaging/latest-name.sh $$f $$arch); \
		done; \
	done; \
	rm -rf $$stage; \
	cd $(DIST) && ls | grep -E '^asagent[-_].*[.](deb|rpm)$$' | xargs sha256sum > SHA256SUMS; \
	echo "$(DIST)/SHA256SUMS:"; cat SHA256SUMS

test: fmt-check vet lint cross-vet unit fuzz-ci

# A short fuzz of every target on each CI run (the seed corpora already run in
# `unit`); `make fuzz` goes longer.
fuzz-ci:
	$(MAKE) fuzz FUZZTIME=3s

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The agent must compile for every release platform; vet is the cheap way to type-check them all.
cross-vet:
	GOOS=windows GOARCH=amd64 $(GO) vet ./...
	GOOS=linux GOARCH=arm64 $(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 ./...

clean:
	rm -rf bin dist

# Benchmarks: the Go benchmarks, then `asagent bench report` (footprint of the
# real binary, API calls per hour, latencies, fleets of 1,000 and 10,000 agents),
# which prints a table and writes docs/benchmarks.md and docs/fleet-rate.svg.
# About 10 minutes on 2 cores.
BENCH_PKGS ?= ./internal/checks/ ./internal/sim/ ./internal/asclient/
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(BENCH_PKGS) > bin/gobench.txt; \
		status=$$?; cat bin/gobench.txt; exit $$status
	bin/asagent bench report --go-bench bin/gobench.txt --binary bin/asagent --commit $(COMMIT) --out docs/benchmarks.md

# Reliability suites (docs/reliability.md). `make test` runs them at their
# CI size; `make chaos` runs the kill -9 suite longer (CHAOS_KILLS kills,
# CHAOS_SEED to replay) and `make fuzz` fuzzes each target for FUZZTIME.
CHAOS_KILLS ?= 200
CHAOS_SEED  ?= 20261127
FUZZTIME    ?= 10s
# One run per new input instead of minimizing it: the HTTP targets' coverage
# varies from run to run, so nearly every input looks new and minimizing them
# would take the whole FUZZTIME (a crasher is then reported as found).
FUZZMINIMIZE ?= 1x
FUZZ_TARGETS := internal/config:FuzzParse internal/asclient:FuzzResponses \
	internal/asclient:FuzzParseTimeout internal/metadata:FuzzMetadataAnswers

.PHONY: chaos fuzz fuzz-ci
chaos:
	ASAGENT_CHAOS_KILLS=$(CHAOS_KILLS) ASAGENT_CHAOS_SEED=$(CHAOS_SEED) \
		$(GO) test -race -count=1 -v -run 'TestChaos|TestKill9|TestHostile|TestControlSocket|TestDropIn|TestTLS' ./internal/chaos/

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; echo "fuzz $$pkg $$name"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./$$pkg/; \
	done
