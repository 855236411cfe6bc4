# bootplan — see README.md. Every target works on a fresh Debian machine as root.
GO        ?= go
GOFLAGS   ?= -trimpath
LDFLAGS   ?= -s -w
STATICCHECK_VERSION ?= v0.8.2
export CGO_ENABLED = 0

.PHONY: all build test unit lint fuzz bench clean assets vm-test demo mutate

all: build

## build: static binaries in bin/ (stage one: bin/init; stage two + CLI: bin/bootplan)
build:
	$(GO) build $(GOFLAGS) -ldflags='$(LDFLAGS)' -o bin/init ./cmd/init
	$(GO) build $(GOFLAGS) -ldflags='$(LDFLAGS)' -o bin/bootplan ./cmd/bootplan
	@ls -l bin/init bin/bootplan | awk '{printf "size %-14s %6.2f MB\n", $$9, $$5/1048576}'
	@test $$(stat -c %s bin/init) -lt 8388608 || { echo "bin/init is over 8 MB"; exit 1; }

## test: lint, unit + replay tests, fuzz smoke, then the VM scenarios. assets comes before
## unit: it installs the mkfs tools and the kernel that unit tests need (under CI they fail
## when something is missing, see internal/testneed).
test: lint build assets unit fuzz vm-test

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

## assets: QEMU, Debian cloud kernel + modules, busybox, mkfs tools (cached in .cache/)
assets:
	sh tests/assets.sh

## vm-test: boot every scenario of tests/scenarios in QEMU (SCENARIO=name, SCENARIOS=dir)
VM_TIMEOUT ?= 80m
vm-test: build assets
	BOOTPLAN_VM=1 $(GO) test -count=1 -timeout $(VM_TIMEOUT) -v ./tests/vm/

## demo: boot the example image, console live, powers off by itself
demo: build assets
	$(GO) run ./tests/cmd/demo

## mutate: mutation testing (gremlins) of the packages that guard data and PID 1, one package
## at a time, then the table of README "Mutation testing". Not in CI (minutes per package).
## MUTATE_PKGS=internal/gpt narrows it; stage2 and stage2/supervise run per file
## (MUTATE_FILES="rootgrow.go"); MUTATE_WORKERS=1 by default.
mutate:
	sh tests/mutate.sh

## bench: Go benchmarks of the boot's pure work (compile, codec, expansion, graph, probe)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./plan ./stage2 ./internal/fsprobe

## lint: gofmt, go vet, staticcheck
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

clean:
	rm -rf bin
