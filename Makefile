# Two commands for a fresh machine:  `make run` (the service)  and  `make test` (every test).
VENV ?= .venv
PYTHON ?= python3
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
export LEARNLOOP_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-fast worker bench clean

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
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(VENV)/bin/python scripts/bench_inbound.py

clean:
	rm -rf $(VENV) plugin/*.egg-info .pytest_cache
