# Two commands for a fresh machine:  `make run` (the service)  and  `make test` (every test).
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
export LEARNLOOP_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test worker bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/learnloop serve

worker: $(STAMP)
	$(VENV)/bin/learnloop worker

test: $(STAMP)
	bash scripts/start_test_services.sh
	bash scripts/install_browser.sh
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python scripts/bench_inbound.py

clean:
	rm -rf $(VENV) plugin/*.egg-info .pytest_cache
