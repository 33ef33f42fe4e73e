# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OLDEST := .venv-oldest

.PHONY: demo test test-oldest lint bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python example_dags/demo.py

test: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest  # the tests run the venv's console scripts

# The same tests on the oldest versions pyproject.toml allows (Airflow 3.0.6, SQLAlchemy 1.4, ...)
$(OLDEST)/bin/.installed: pyproject.toml .ci/oldest-constraints.txt
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST)/bin/python -m pip install --quiet -c .ci/oldest-constraints.txt -e ".[test]" psycopg2-binary
	touch $@

test-oldest: $(OLDEST)/bin/.installed
	PATH="$(CURDIR)/$(OLDEST)/bin:$$PATH" $(OLDEST)/bin/python -m pytest

# The minors between, each as its last patch was released: `make test-airflow-3.1`, `-3.2`.
# The slow runs (long properties, stress) test nothing Airflow-specific and are left to the others.
.venv-airflow-%/bin/.installed: pyproject.toml .ci/constraints-airflow-%.txt
	test -x .venv-airflow-$*/bin/python || $(PYTHON) -m venv .venv-airflow-$*
	.venv-airflow-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-airflow-$*/bin/python -m pip install --quiet -c .ci/constraints-airflow-$*.txt -e ".[test]"
	touch $@
.PRECIOUS: .venv-airflow-%/bin/.installed  # not an intermediate file make may delete

test-airflow-%: .venv-airflow-%/bin/.installed
	PATH="$(CURDIR)/.venv-airflow-$*/bin:$$PATH" .venv-airflow-$*/bin/python -m pytest -m "not slow"

lint: $(BIN)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(OLDEST) .venv-airflow-* .demo .bench .pytest_cache .mypy_cache .ruff_cache
