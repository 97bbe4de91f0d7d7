# `make demo` and `make test` work on a fresh machine with only python3 and make.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt

.PHONY: demo test bench lint clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml constraints.txt
	$(PIP) -e ".[test,examples,dev]"
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/plot_activations.py

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) benchmarks/run.py

lint: $(VENV)/.installed
	$(PY) -m ruff check jelu tests examples benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache
