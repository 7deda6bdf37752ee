# The two entry points of the README: `make serve` and `make test`.
# Both create .venv on first use (and refresh it when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: serve test test-slow lint typecheck bench-quick clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

# The coordinator on the embedded default (SQLite shards in ./.shardgate), MySQL
# protocol on 127.0.0.1:3307, status page and metrics on http://127.0.0.1:8080/.
serve: $(STAMP)
	$(VENV)/bin/shardgate serve --http 127.0.0.1:8080 $(ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict executor sharding
	$(PY) -m pytest -q -m "not slow" --durations=25 $(PYTEST_ARGS)

# The tests marked ``slow`` (the 1024-shard fidelity variants, long integration
# runs); .ci/run runs them after ``make test``. Two pytest workers: the slow tests
# wait on MariaDB about as long as they compute, so two share the 2 cores well
# (21 min instead of ~50). Each worker builds its own fidelity environments, so the
# shared MariaDB needs more than its default 151 connections (.ci/run raises them).
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict executor sharding

bench-quick: $(STAMP)
	$(PY) -m bench quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
