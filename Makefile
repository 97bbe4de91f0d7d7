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
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest

# torch is only a reference point: the run skips it where it cannot be installed.
bench: $(VENV)/.installed
	$(PY) -m pip install -q torch==2.13.0 || echo "torch not installable here; benchmarking without it"
	$(PY) benchmarks/run.py

lint: $(VENV)/.installed
	$(PY) -m ruff check jelu tests examples benchmarks
	$(VENV)/bin/pyright

clean:
	rm -rf $(VENV) out .pytest_cache
