# Strata build and test entry points. `make demo` builds strata and runs the e-commerce demo;
# `make test` installs what the tests need (Python readers for the interop tests, psql and
# Chromium for the demo's end-to-end test) and runs the whole suite: go test, a short run of every
# fuzz target, and a small run of the reliability harness. CI (.ci/run) calls it.
GO ?= go
# DuckDB's Arrow interface (internal/engine) needs this build tag.
export GOFLAGS := -tags=duckdb_arrow $(GOFLAGS)
PYTHON ?= python3
PKGS := ./...

.PHONY: build demo test test-go fuzz reliability pydeps sysdeps vet fmt tour bench clean

build:
	$(GO) build -o bin/strata ./cmd/strata

# The e-commerce demo (examples/ecommerce) on embedded defaults: dashboard on http://127.0.0.1:8080/.
demo: build
	bin/strata demo

pydeps:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r test/requirements.txt

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l cmd internal test); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Debian packages the end-to-end demo test drives: the psql client and headless Chromium.
sysdeps:
	@if ! command -v psql >/dev/null || ! command -v chromium >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql-client chromium >/dev/null; \
	fi

test: pydeps sysdeps vet test-go fuzz reliability

test-go:
	$(GO) test -count=1 -timeout 20m $(PKGS)

# Every Go fuzz target for FUZZTIME (the test suite: 10s each; the long run: FUZZTIME=10m).
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) test/fuzz.sh

# The reliability harness, small (docs/reliability.md has the long run's command and figures).
RELIABILITY_ARGS ?= --iterations 20 --duration 30s --seed 1
reliability: build
	bin/strata bench reliability $(RELIABILITY_ARGS)

tour: build
	examples/tour/tour.sh
	examples/sql/walkthrough.sh
	examples/medallion/run.sh

bench: build
	bin/strata bench delta

fmt:
	gofmt -w cmd internal test

clean:
	rm -rf bin
