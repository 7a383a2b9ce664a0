# aglidein: make demo | make test | make bench
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# System tools each command uses (scripts/deps.sh maps them to Debian packages).
TEST_TOOLS := promtool chromium systemd-analyze curl gzip tar git
DEMO_TOOLS := curl gzip tar
BENCH_TOOLS := wrk curl

.PHONY: demo demo-real test deps demo-deps lint types pytest shell bats bench clean

# What is missing gets installed (apt-get, as root on Debian/Ubuntu) or named in one line;
# nothing happens when all is there. `make deps` covers the tests and the benchmarks.
deps:
	@PYTHON=$(PYTHON) VENV=$(VENV) scripts/deps.sh $(TEST_TOOLS) $(BENCH_TOOLS)

demo-deps:
	@PYTHON=$(PYTHON) VENV=$(VENV) scripts/deps.sh $(DEMO_TOOLS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The daemon on the simulated pool with a live view, until Ctrl-C
# (e.g. make demo DEMO_ARGS="--port 8081 --duration 2m").
demo: demo-deps $(STAMP)
	$(BIN)/aglidein demo $(DEMO_ARGS)

# The same on real HTCondor daemons (a VO pool and a site on 127.0.0.1): needs
# condor_master on PATH or an HTCondor tarball
# (e.g. make demo-real DEMO_ARGS="--condor-tarball /path/to/htcondor-25.13.2-*.tar.gz --duration 3m").
demo-real: demo-deps $(STAMP)
	$(BIN)/aglidein demo --real-pool $(DEMO_ARGS)

test: deps $(STAMP) lint types pytest shell bats

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy --strict src

# Two workers: one runs the real-pool tests (one xdist group, one pool), both the rest.
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

shell: $(STAMP)
	find glidein scripts systemd -name '*.sh' -print0 | xargs -0 -r $(BIN)/shellcheck -x

bats: $(STAMP)
	@if [ -d tests/glidein ] && ls tests/glidein/*.bats >/dev/null 2>&1; then \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/bats tests/glidein; \
	else echo "bats: no tests/glidein/*.bats yet"; fi

bench: deps $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
