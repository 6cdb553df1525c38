# Two commands for a fresh machine:  `make run` (the service)  and  `make test` (every test).
VENV ?= .venv
PYTHON ?= python3
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
export LEARNLOOP_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-fast worker bench bench-tools bench-inbound bench-wiki bench-fanout bench-dashboard bench-digest bench-scaleout bench-quick clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e .
	rm -f $(VENV)/.installed-run-*
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-test-* $(VENV)/.installed-run-*
	touch $(TEST_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/learnloop serve

worker: $(RUN_STAMP)
	$(VENV)/bin/learnloop worker

test: $(TEST_STAMP)
	bash scripts/start_test_services.sh
	bash scripts/install_browser.sh
	$(VENV)/bin/ruff check plugin tests scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The fast tier alone, while editing: no browser, real MediaWiki, PostgreSQL, extra processes, fuzzing,
# hypothesis properties or tests over about a second (tiers: tests/conftest.py), on every core (pytest-xdist).
# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set: compiling and rewriting every test module anew
# costs tens of seconds a run.
test-fast: $(TEST_STAMP)
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/python -m pytest -n auto \
		-m "not browser and not mediawiki and not postgresql and not scaleout and not slow" $(PYTEST_ARGS)

# Benchmarks (docs/performance.md). BENCH_ARGS is passed to each, e.g.
#   make bench-inbound BENCH_ARGS="--database-url $$LEARNLOOP_TEST_DATABASE_URL"
#   make bench-fanout BENCH_ARGS="--learnloop-python ../baseline/.venv/bin/python"
bench: bench-inbound

# wrk, the closed-loop load generator (Debian's package)
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

bench-inbound: $(TEST_STAMP) bench-tools
	$(VENV)/bin/python scripts/bench_inbound.py $(BENCH_ARGS)

bench-wiki: $(TEST_STAMP) bench-tools
	$(VENV)/bin/python scripts/bench_wiki_ingest.py $(BENCH_ARGS)

bench-fanout: $(TEST_STAMP)
	$(VENV)/bin/python scripts/bench_fanout.py $(BENCH_ARGS)

bench-dashboard: $(TEST_STAMP)
	$(VENV)/bin/python scripts/bench_dashboard.py $(BENCH_ARGS)

bench-digest: $(TEST_STAMP)
	$(VENV)/bin/python scripts/bench_digest.py $(BENCH_ARGS)

bench-scaleout: $(TEST_STAMP)
	bash scripts/start_test_services.sh
	$(VENV)/bin/python scripts/bench_scaleout.py $(BENCH_ARGS)

# Every benchmark at a small size: that they run, not what they measure (a few seconds each, but the scale-out
# kill rounds wait out the 60 s outbox lease twice).
bench-quick: $(TEST_STAMP) bench-tools
	bash scripts/start_test_services.sh
	$(VENV)/bin/python scripts/bench_inbound.py --duration 2 --rounds 1 --warmup 1 --requests 3000
	$(VENV)/bin/python scripts/bench_wiki_ingest.py --duration 2 --rounds 1 --warmup 1
	$(VENV)/bin/python scripts/bench_fanout.py --members 300 --baseline 2 --warmup 1 --timeout 60
	$(VENV)/bin/python scripts/bench_dashboard.py --scale 0.01 --loads 5
	$(VENV)/bin/python scripts/bench_scaleout.py --small
	$(VENV)/bin/python scripts/bench_digest.py --scale 0.02

clean:
	rm -rf $(VENV) plugin/*.egg-info .pytest_cache
