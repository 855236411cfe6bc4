# bootplan — see README.md. Every target works on a fresh Debian machine as root.
GO        ?= go
GOFLAGS   ?= -trimpath
# The version every binary prints and records: a release sets VERSION=vX.Y.Z; other builds say
# devel-<git describe>. (Set through the linker, not -buildvcs, which GOFLAGS may turn off.)
VERSION   ?= devel-$(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
LDFLAGS   ?= -s -w -X github.com/bootplan/bootplan/internal/version.override=$(VERSION)
STATICCHECK_VERSION ?= v0.8.2
export CGO_ENABLED = 0

.PHONY: all build test unit lint fuzz fuzz-long bench bench-boot clean assets vm-test demo validator release schema mutate

all: build

## build: static binaries in bin/ (stage one: bin/init; stage two + CLI: bin/bootplan) for the
## host, and bin/<arch>/{init,bootplan} for every arch of ARCHES (build-arches)
build: build-arches
	$(GO) build $(GOFLAGS) -ldflags='$(LDFLAGS)' -o bin/init ./cmd/init
	$(GO) build $(GOFLAGS) -ldflags='$(LDFLAGS)' -o bin/bootplan ./cmd/bootplan
	$(GO) build $(GOFLAGS) -tags validateonly -ldflags='$(LDFLAGS)' -o bin/bootplan-validate ./cmd/bootplan
	@ls -l bin/init bin/bootplan bin/bootplan-validate | awk '{printf "size %-22s %6.2f MB\n", $$9, $$5/1048576}'
	@test $$(stat -c %s bin/init) -lt 8388608 || { echo "bin/init is over 8 MB"; exit 1; }

## build-arches: bin/<arch>/init and bin/<arch>/bootplan for each of ARCHES, static, with the
## same 8 MB budget for init; the host arch's are symlinks to bin/init and bin/bootplan
.PHONY: build-arches unit-arm64 vm-test-arm64
ARCHES ?= amd64 arm64
HOSTARCH := $(shell $(GO) env GOARCH)
build-arches:
	@set -e; for a in $(ARCHES); do mkdir -p bin/$$a; \
	  if [ $$a = $(HOSTARCH) ]; then ln -sfn ../init bin/$$a/init; ln -sfn ../bootplan bin/$$a/bootplan; continue; fi; \
	  GOARCH=$$a $(GO) build $(GOFLAGS) -ldflags='$(LDFLAGS)' -o bin/$$a/init ./cmd/init; \
	  GOARCH=$$a $(GO) build $(GOFLAGS) -ldflags='$(LDFLAGS)' -o bin/$$a/bootplan ./cmd/bootplan; \
	  ls -l bin/$$a/init bin/$$a/bootplan | awk '{printf "size %-20s %6.2f MB\n", $$9, $$5/1048576}'; \
	  test $$(stat -c %s bin/$$a/init) -lt 8388608 || { echo "bin/$$a/init is over 8 MB"; exit 1; }; \
	done

## test: lint, unit + replay tests, the pure packages on arm64, fuzz smoke, then the VM
## scenarios, then the arm64 VM subset. assets comes before unit: it installs the mkfs tools,
## dnsmasq and the kernel that unit tests need (under CI they fail when something is missing,
## see internal/testneed).
test: lint build assets unit unit-arm64 fuzz vm-test vm-test-arm64

## unit-arm64: GOARCH=arm64 go vet, and the packages' tests built for arm64 and run under
## qemu-aarch64-static (user emulation; Debian's qemu-user-static, `make assets ARCH=arm64`).
## ARM64_UNIT_SKIP: the tests that re-exec the test binary (as PID 1 of new namespaces, or as
## another uid), which user emulation cannot do (clone with namespace flags → EINVAL, exec of
## an arm64 binary without binfmt_misc → ENOEXEC); the PID 1 code runs for real in the arm64
## VM subset; TestMissingSkipsOrFailsUnderCI re-execs itself to watch a skip and a failure.
ARM64_UNIT_PKGS ?= ./plan/... ./internal/... ./stage1 ./stage2/...
ARM64_UNIT_SKIP ?= ^(TestPID1|TestExecKeepsCapSysBoot|TestUnprivilegedExtract|TestMissingSkipsOrFailsUnderCI)
unit-arm64:
	ARCH=arm64 sh tests/assets.sh
	@command -v qemu-aarch64-static >/dev/null || { \
	  if [ -n "$$CI" ]; then echo "unit-arm64: qemu-aarch64-static missing (make assets ARCH=arm64)"; exit 1; fi; \
	  echo "*** SKIPPING unit-arm64: qemu-aarch64-static missing (make assets ARCH=arm64) ***"; exit 0; }; \
	GOARCH=arm64 $(GO) vet ./... && \
	GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64-static -skip '$(ARM64_UNIT_SKIP)' $(ARM64_UNIT_PKGS)

## unit: go test over every package (replay tests need moto_server: see README)
unit:
	$(GO) test -count=1 ./...

## fuzz: every fuzz target (each `func Fuzz...` of every package) for a bounded number of
## executions, from its seed corpus under <pkg>/testdata/fuzz/<FuzzName>: FUZZTIME for the
## packages in FUZZ_FULL_PKGS (the big input spaces), FUZZTIME_SMALL for the small parsers
## (about a minute in all). Counts, not durations: Go 1.26's fuzz coordinator can fail a
## duration-bounded run with a spurious "context deadline exceeded" (golang/go#75804).
FUZZTIME       ?= 60000x
FUZZTIME_SMALL ?= 150000x
FUZZ_FULL_PKGS ?= plan internal/fsprobe internal/gpt
# Minimizing each new input (60 s by default) would stall a short run on the large inputs
# (GPT sectors and entry arrays, device images): bound it by executions.
FUZZMINIMIZETIME ?= 200x
fuzz:
	@set -e; $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do \
	  for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go 2>/dev/null); do \
	    t=$(FUZZTIME_SMALL); \
	    for p in $(FUZZ_FULL_PKGS); do case $$pkg in */$$p) t=$(FUZZTIME);; esac; done; \
	    echo "fuzz: $$pkg $$f for $$t"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $$t -fuzzminimizetime $(FUZZMINIMIZETIME); \
	  done; \
	done

## fuzz-long: every fuzz target for at least FUZZ_LONG_SECONDS (10 min) each, before a release;
## not part of `make test` or CI. Rounds of FUZZ_LONG_ROUND executions until the time is spent
## (counts again, not a -fuzztime duration: golang/go#75804); each round starts from the corpus
## the previous ones grew in the Go build cache.
FUZZ_LONG_SECONDS ?= 600
FUZZ_LONG_ROUND   ?= 200000x
fuzz-long:
	@set -e; $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do \
	  for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go 2>/dev/null); do \
	    start=$$(date +%s); spent=0; \
	    while [ $$spent -lt $(FUZZ_LONG_SECONDS) ]; do \
	      echo "fuzz-long: $$pkg $$f, $$spent s of $(FUZZ_LONG_SECONDS) s"; \
	      $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_LONG_ROUND) -fuzzminimizetime $(FUZZMINIMIZETIME); \
	      spent=$$(( $$(date +%s) - start )); \
	    done; \
	  done; \
	done

## assets: QEMU, Debian cloud kernel + modules, busybox, mkfs tools (cached in .cache/;
## ARCH=arm64: the arm64 guest's, in .cache/arm64/)
ARCH ?= amd64
assets:
	ARCH=$(ARCH) sh tests/assets.sh

## vm-test: boot every scenario of tests/scenarios in QEMU (SCENARIO=name, SCENARIOS=dir,
## ARCH=arm64 for arm64 guests)
VM_TIMEOUT ?= 80m
vm-test: build assets
	BOOTPLAN_VM=1 BOOTPLAN_ARCH=$(ARCH) $(GO) test -count=1 -timeout $(VM_TIMEOUT) -v ./tests/vm/

## vm-test-arm64: the arm64 subset `make test` boots (ARM64_SCENARIOS; every scenario runs
## with `make vm-test ARCH=arm64`)
ARM64_SCENARIOS ?= basic-boot,ssm-env-from,template-volume,s3-volume,ebs-ext4,power-button,spot-termination,kernel-modules
vm-test-arm64:
	$(MAKE) vm-test ARCH=arm64 SCENARIO=$(ARM64_SCENARIOS)

## demo: boot the example image, console live, powers off by itself;
## IMAGE=<scenario> (postgres, ssh, redis, ...): boot that real image and keep it running,
## printing how to connect from the host (Ctrl-C presses the power button)
demo: build assets
	BOOTPLAN_ARCH=$(ARCH) $(GO) run ./tests/cmd/demo $(if $(IMAGE),tests/scenarios/$(IMAGE))

## mutate: mutation testing (gremlins) of the packages that guard data and PID 1, one package
## at a time, then the table of README "Mutation testing". Not in CI (minutes per package).
## MUTATE_PKGS=internal/gpt narrows it; stage2 and stage2/supervise run per file
## (MUTATE_FILES="rootgrow.go"); MUTATE_WORKERS=1 by default.
mutate:
	sh tests/mutate.sh

## bench: Go benchmarks of the boot's pure work (compile, codec, expansion, graph, probe,
## module aliases), then the S3 prefix volume replay benchmark (moto behind 25 ms per request
## against a 16-way parallel reference client; needs moto_server)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./plan ./stage2 ./internal/fsprobe ./internal/kmod
	BOOTPLAN_BENCH=1 $(GO) test -count=1 -run '^TestBenchS3VolumeLatency$$' -v ./stage2

## bench-boot: boot the reference init (tests/cmd/refinit) and bootplan BENCH_N times each,
## alternately, and print per-phase medians, spread and the ratio (a benchmark, never a test)
BENCH_N ?= 7
bench-boot: build assets
	$(GO) run ./tests/cmd/benchboot -n $(BENCH_N)

## lint: gofmt, go vet, staticcheck
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

## validator: the standalone validator (validate, compile, show, schema, completion; no AWS
## SDK, no stage two) for linux and darwin, amd64 and arm64: bin/bootplan-validate-<os>-<arch>
VALIDATOR_TARGETS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
validator:
	@set -e; for t in $(VALIDATOR_TARGETS); do os=$${t%/*}; arch=$${t#*/}; \
	  GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS) -tags validateonly -ldflags='$(LDFLAGS)' -o bin/bootplan-validate-$$os-$$arch ./cmd/bootplan; \
	  echo "bin/bootplan-validate-$$os-$$arch"; done

## release: VERSION=vX.Y.Z → dist/bootplan-VERSION-linux-{amd64,arm64}.tar.gz (each holds
## init.tar with .easyto/sbin/init, .easyto/bin/bootplan, .easyto/sbin/stage2, as easyto-init's
## release does) and dist/SHA256SUMS. Reproducible: the same commit gives the same bytes.
RELEASE_ARCHES ?= amd64 arm64
release:
	@case "$(VERSION)" in v[0-9]*) ;; *) echo "make release needs VERSION=vX.Y.Z (got $(VERSION))"; exit 2;; esac
	rm -rf dist && mkdir -p dist
	@set -e; for a in $(RELEASE_ARCHES); do \
	  GOARCH=$$a $(GO) build -trimpath -buildvcs=false -ldflags='$(LDFLAGS) -buildid=' -o dist/$$a/init ./cmd/init; \
	  GOARCH=$$a $(GO) build -trimpath -buildvcs=false -ldflags='$(LDFLAGS) -buildid=' -o dist/$$a/bootplan ./cmd/bootplan; \
	  test $$(stat -c %s dist/$$a/init) -lt 8388608 || { echo "dist/$$a/init is over 8 MB"; exit 1; }; \
	  $(GO) run ./tools/mkrelease -version $(VERSION) -arch $$a -init dist/$$a/init -bootplan dist/$$a/bootplan -o dist; \
	  rm -rf dist/$$a; done
	@cat dist/SHA256SUMS

## schema: regenerate schema/user-data.schema.json (a test fails when it is stale)
schema:
	$(GO) run ./cmd/bootplan schema -o schema/user-data.schema.json

clean:
	rm -rf bin dist
