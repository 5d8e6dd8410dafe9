# Strata build and test entry points. `make test` installs what the tests need (Python readers
# for the interop tests) and runs the whole suite; CI (.ci/run) calls it.
GO ?= go
# DuckDB's Arrow interface (internal/engine) needs this build tag.
export GOFLAGS := -tags=duckdb_arrow $(GOFLAGS)
PYTHON ?= python3
PKGS := ./...

.PHONY: build test test-go pydeps vet fmt tour bench clean

build:
	$(GO) build -o bin/strata ./cmd/strata

pydeps:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r test/requirements.txt

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l cmd internal test); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: pydeps vet test-go

test-go:
	$(GO) test -count=1 -timeout 20m $(PKGS)

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
