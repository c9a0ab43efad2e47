# The two commands: `make` checks the spec against the implementation and builds the
# site; `make test` runs every test. Both install missing system packages first.

SWIFT      ?= swift
ATTEST     := .build/debug/attest
SITE_DIR   ?= _site
RESULTS    ?= .build/conformance

.PHONY: all deps build check site test swift-test conformance python-test bench clean

all: check

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build --product attest

check: build
	$(ATTEST) check

site: build
	$(ATTEST) site --out $(SITE_DIR)

test: deps
	@scripts/ensure-deps.sh --python
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(MAKE) --no-print-directory conformance python-test

conformance: build
	$(ATTEST) conformance --impl "$(ATTEST) impl" --out $(RESULTS)/swift
	$(ATTEST) conformance --jsonl --impl "$(ATTEST) impl" --out $(RESULTS)/swift-jsonl
	$(ATTEST) conformance --impl "python3 conformance/examples/python/attest_impl.py" \
	    --baseline conformance/examples/python/expected-failures.json --out $(RESULTS)/python

python-test: build
	python3 -m pytest -q Tests/python

bench: deps
	$(SWIFT) build -c release --product attest
	.build/release/attest bench

clean:
	rm -rf .build $(SITE_DIR)
