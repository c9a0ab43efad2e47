# The two commands: `make` checks the spec against the implementation and builds the
# site; `make test` runs every test. Both install missing system packages first.

SWIFT      ?= swift
ATTEST     := .build/debug/attest
SITE_DIR   ?= _site
# What `make test` leaves behind for `attest check --evidence` (README.md §Evidence):
# conformance results, code observations recorded by the tests, JUnit reports.
EVIDENCE   ?= .build/evidence
RESULTS    ?= $(EVIDENCE)/conformance

# Ops of spec/conformance.md's ops table that the Python example does not implement yet,
# each passed as --allow-unsupported (any other unsupported op fails the run, and an op
# listed here that no longer skips a vector fails it as stale). It implements every op.
PYTHON_UNSUPPORTED :=
PYTHON_ALLOW := $(foreach op,$(PYTHON_UNSUPPORTED),--allow-unsupported $(op))
PYTHON_IMPL  := python3 conformance/examples/python/attest_impl.py

E2E_RECEIPTS ?= 1000000

.PHONY: all deps build release check site test conformance conformance-quick evidence-e2e discovery-differential differential python-test pg-test bench bench-portal bench-replicas load-replicas \
        bench-check bench-check-update bench-jose \
        fuzz fuzz-one fuzz-build asan tsan clean

all: check conformance-quick site

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build --product attest

release: deps
	$(SWIFT) build -c release --product attest

check: build
	$(ATTEST) check

site: build
	$(ATTEST) site --out $(SITE_DIR) --results $(RESULTS)

# The evidence directory starts empty, every step below adds to it, and the last step
# checks the spec's claims against it: each registry code raised by a passing vector or
# scenario or observed by a named test (or excluded with a reason), each threat-model
# row's vectors passed and its tests ran and passed.
test: deps
	@scripts/ensure-deps.sh --python
	python3 scripts/lint_no_trap.py
	rm -rf $(EVIDENCE)
	mkdir -p $(EVIDENCE)/tests $(EVIDENCE)/junit
	$(SWIFT) build --build-tests
	ATTEST_EVIDENCE_DIR=$(abspath $(EVIDENCE))/tests scripts/postgres.sh run \
	    $(SWIFT) test --xunit-output $(EVIDENCE)/junit/swift.xml
	$(MAKE) --no-print-directory conformance evidence-e2e bench-check discovery-differential differential python-test
	$(ATTEST) check --evidence $(EVIDENCE)

# The state portal replicas share, on a throwaway PostgreSQL server (scripts/postgres.sh:
# installed from Debian's packages when missing, run as the postgres user, stopped after
# the tests whatever their outcome). Without ATTEST_POSTGRES_URL the PostgreSQL tests are
# skipped; `make test` runs every Swift test with such a server.
pg-test: deps
	$(SWIFT) build --build-tests
	scripts/postgres.sh run $(SWIFT) test --skip-build --filter 'SharedStateTests|revocationAcrossPostgresReplicas'

conformance: build
	$(ATTEST) conformance --impl "$(ATTEST) impl" --out $(RESULTS)/swift
	$(ATTEST) conformance --portal "$(ATTEST) portal stdio --config" --portal-out $(EVIDENCE)/portal
	$(ATTEST) conformance --jsonl --impl "$(ATTEST) impl" --out $(RESULTS)/swift-jsonl
	$(ATTEST) conformance --impl "$(PYTHON_IMPL)" $(PYTHON_ALLOW) \
	    --baseline conformance/examples/python/expected-failures.json --out $(RESULTS)/python
	$(ATTEST) conformance --jsonl --impl "$(PYTHON_IMPL)" $(PYTHON_ALLOW) \
	    --baseline conformance/examples/python/expected-failures.json --out $(RESULTS)/python-jsonl

# A bundle of E2E_RECEIPTS receipts exported by the CLI verifies PASS, and each attack
# on it turns it FAIL with its code (release build: a million receipts).
evidence-e2e: release
	python3 Tests/e2e/bundle_attacks.py .build/release/attest $(E2E_RECEIPTS) .build/e2e

# Random issuers and lookup schedules through three discovery implementations (the
# vector authoring model, Swift, the Python example): all must agree.
discovery-differential: build
	python3 Tests/e2e/discovery_differential.py $(ATTEST) 5000 $${DISCOVERY_SEED:-1}

# Random well-formed and mutated objects of every kind through the Swift reference and the
# Python example: the same verdict and code on every input (Tests/e2e/differential.py).
DIFFERENTIAL_CASES ?= 300
differential: build
	python3 Tests/e2e/differential.py $(ATTEST) $(DIFFERENTIAL_CASES) $${DIFFERENTIAL_SEED:-1} .build/differential

# Both implementations in JSON lines mode: the results the site's traceability matrix shows.
conformance-quick: build
	@python3 -c 'import nacl, cryptography, rfc8785' 2>/dev/null || \
	    python3 -m pip install -q --disable-pip-version-check -r conformance/examples/python/requirements.txt
	$(ATTEST) conformance --jsonl --impl "$(ATTEST) impl" --out $(RESULTS)/swift-jsonl
	$(ATTEST) conformance --jsonl --impl "$(PYTHON_IMPL)" $(PYTHON_ALLOW) \
	    --baseline conformance/examples/python/expected-failures.json --out $(RESULTS)/python-jsonl

# The browser tests of the site (Tests/python/test_site_browser.py) need it built.
python-test: build site
	ATTEST_RESULTS=$(RESULTS) ATTEST_EVIDENCE_DIR=$(abspath $(EVIDENCE))/tests scripts/postgres.sh run \
	    python3 -m pytest -q -s --rootdir=. --junitxml=$(EVIDENCE)/junit/python.xml Tests/python

# libFuzzer targets (Fuzz/README.md): each runs FUZZ_SECONDS from the committed seeds
# plus a scratch corpus in .build-fuzz; a crash stops its target and the others go on.
FUZZ_TARGETS ?= json jcs base64url jws token checkpoint receipt-line bundle artifact constraint portal-framing
FUZZ_SECONDS ?= 60
FUZZ_SCRATCH ?= .build-fuzz

fuzz-build: deps
	@for t in $(if $(FUZZ_TARGET),$(FUZZ_TARGET),$(FUZZ_TARGETS)); do \
	    ATTEST_FUZZ=1 nice -n 10 $(SWIFT) build --sanitize=fuzzer --product fuzz-$$t --scratch-path $(FUZZ_SCRATCH) || exit 1; \
	done

fuzz: fuzz-build
	@status=0; for t in $(FUZZ_TARGETS); do \
	    python3 scripts/fuzz_run.py $$t $(FUZZ_SECONDS) --scratch $(FUZZ_SCRATCH) || status=1; \
	done; exit $$status

fuzz-one: fuzz-build
	@test -n "$(FUZZ_TARGET)" || { echo "usage: make fuzz-one FUZZ_TARGET=json"; exit 2; }
	python3 scripts/fuzz_run.py $(FUZZ_TARGET) $(FUZZ_SECONDS) --scratch $(FUZZ_SCRATCH)

bench: release
	.build/release/attest bench core
	.build/release/attest bench identity
	.build/release/attest bench evidence

# Instruction counts of the hot paths under callgrind against the committed baselines in
# Benchmarks/instruction-counts.json (Benchmarks/README.md §Regression gate): fails when a
# path costs more than 10% above its baseline, tells when one is more than 10% below.
# Counts, not times, so the machine's load does not move them. Part of `make test`.
bench-check: release
	@scripts/ensure-deps.sh --bench-check
	python3 scripts/bench_check.py

# Rewrites the baselines from a run on this machine: commit the file's change for review.
bench-check-update: release
	@scripts/ensure-deps.sh --bench-check
	python3 scripts/bench_check.py --update

# Token verification against jwt-kit, joserfc and PyJWT in alternating rounds
# (Benchmarks/README.md §Identity): a benchmark executable of its own, so that `attest`
# does not link jwt-kit. Not part of `make bench` or `make test`.
bench-jose: deps
	@python3 -c 'import joserfc, jwt' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check -r Tests/python/requirements.txt
	$(SWIFT) build -c release --product bench-jose
	.build/release/bench-jose

# The portal's added latency, throughput and CPU bound (Benchmarks/README.md §Portal). Its
# store is a temporary directory under the current one, on this disk. Not part of `make test`.
bench-portal: release
	.build/release/attest bench portal

# The replicas' load test at full size: 2 replicas x 25 sessions x 1,000 calls, every
# answer's receipts in the logs, the shared limit exact, the bundle of both logs PASS.
load-replicas: build
	ATTEST_REPLICA_LOAD=25x1000 scripts/postgres.sh run \
	    python3 -m pytest -q -s --rootdir=. Tests/python/test_portal_replicas.py -k under_load

# Calls per second and latency of 1 and 2 portal replicas on PostgreSQL against SQLite.
bench-replicas: release
	scripts/postgres.sh run .build/release/attest bench replicas

# The Swift tests under AddressSanitizer and under ThreadSanitizer, each built in its own
# scratch path (a cold build is the whole package again). Not part of `make test`. The
# sanitizers write their reports to files (log_path, one per process: swift test runs the
# test binary more than once); a target fails if its run fails or leaves any report.
# LeakSanitizer is off: libXCTest and the MCP SDK's InMemoryTransport pairs leak by design.
# --no-parallel: under a sanitizer the CPU-bound suites (bundles, the spec check) run for
# minutes, and in parallel they hold every thread of the cooperative pool while the tests
# that run on the real clock wait (proofs go stale, HTTP requests time out).
asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	@rm -f .build-asan/asan-report.*
	ASAN_OPTIONS=detect_leaks=0:log_path=$(CURDIR)/.build-asan/asan-report \
	    $(SWIFT) test --sanitize=address --scratch-path .build-asan --no-parallel; \
	    scripts/sanitizer-reports.sh .build-asan/asan-report $$?

# halt_on_error=0: one run reports every race, not only the first.
tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	@rm -f .build-tsan/tsan-report.*
	TSAN_OPTIONS=halt_on_error=0:log_path=$(CURDIR)/.build-tsan/tsan-report \
	    $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --no-parallel; \
	    scripts/sanitizer-reports.sh .build-tsan/tsan-report $$?

clean:
	rm -rf .build .build-asan .build-tsan $(SITE_DIR)
