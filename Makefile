# `make demo` and `make test` work on a fresh machine with only python3 and make.
VENV ?= .venv
CONSTRAINTS ?= constraints.txt
EXTRAS ?= test,examples,dev,docs
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c $(CONSTRAINTS)
WHEEL_VENV := out/wheel-venv

.PHONY: demo test test-oldest test-newest test-wheel test-backends bench bench-backends \
  bench-backends-newest bench-backends-tpu bench-ptx lint docs dist clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml $(CONSTRAINTS)
	$(PIP) -e ".[$(EXTRAS)]"
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

# The core files again under jax_enable_checks, as JAX's own tests run.
CHECKED := tests/test_values.py tests/test_gradients.py tests/test_dtypes.py tests/test_residuals.py \
  tests/test_transforms.py tests/test_modules.py tests/test_learnable.py
test: $(VENV)/.installed
	$(PY) -m pytest
	JAX_ENABLE_CHECKS=1 $(PY) -m pytest -q -p no:cacheprovider $(CHECKED)

# The suite on the oldest jax, jaxlib and flax that pyproject allows.
test-oldest:
	$(MAKE) test VENV=.venv-oldest CONSTRAINTS=constraints-oldest.txt EXTRAS=test,examples

# The suite on Python 3.13 with the newest jax, jaxlib and flax (constraints-newest.txt), in
# a Debian 13 root that .ci/in-trixie makes with debootstrap and keeps in .root-trixie/.
# Needs root; the root is about a minute and 270 MiB the first time.
test-newest:
	.ci/in-trixie python -m pytest

# jax's CUDA plugin compiles for a GPU this machine does not have (benchmarks/h100_sxm.txtpb
# describes an H100): the plugin (about 460 MB) needs no CUDA libraries. libtpu (about 690
# MB), beside it, compiles for a TPU v5e chip the same way.
BACKENDS_VENV := .venv-backends
BACKENDS_ENV := JAX_PLATFORMS=cpu JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1
$(BACKENDS_VENV)/.plugin: pyproject.toml constraints.txt Makefile
	$(MAKE) $(BACKENDS_VENV)/.installed VENV=$(BACKENDS_VENV) EXTRAS=test,examples
	$(BACKENDS_VENV)/bin/python -m pip install -q -c constraints.txt jax-cuda12-plugin libtpu
	touch $@

# Train-step memory compiled for an H100, a TPU v5e and this CPU, float32 and bfloat16, and the
# PTX instructions per element of the GPU kernels (benchmarks/ptx.py), against jax.nn.
test-backends: $(BACKENDS_VENV)/.plugin
	$(BACKENDS_ENV) $(BACKENDS_VENV)/bin/python -m pytest -p no:cacheprovider tests/test_backends.py \
	  tests/test_ptx.py

# The suite against the built wheel, installed in a fresh venv and run from outside the
# source tree, so that a file missing from the package fails it.
test-wheel: dist
	rm -rf $(WHEEL_VENV)
	python3 -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q -c constraints.txt "$$(ls dist/*.whl)[test,examples]"
	cd "$$(mktemp -d)" && $(CURDIR)/$(WHEEL_VENV)/bin/python -c \
	  "import jelu, sys; sys.exit('jelu not from the wheel: ' + jelu.__file__ if 'site-packages' not in jelu.__file__ else 0)" \
	  && $(CURDIR)/$(WHEEL_VENV)/bin/python -m pytest -p no:cacheprovider \
	     -c $(CURDIR)/pyproject.toml --rootdir $(CURDIR) $(CURDIR)/tests --pyargs jelu

# torch is only a reference point: the run skips it where it cannot be installed.
bench: $(VENV)/.installed
	$(PY) -m pip install -q torch==2.13.0 || echo "torch not installable here; benchmarking without it"
	$(PY) benchmarks/run.py

# The backends tables of benchmarks/RESULTS.md and docs/memory_backends.png (compiles only).
bench-backends: $(BACKENDS_VENV)/.plugin
	$(BACKENDS_ENV) $(BACKENDS_VENV)/bin/python benchmarks/backends.py

# The H100's tables on the newest jax that has a CUDA plugin on the registry (jax 0.12.0.1:
# jax-cuda12-plugin 0.12.1 is not served), in test-newest's Debian 13 root, in a venv of its own
# (/opt/venv-compile) with that jax and jaxlib, the plugin, libtpu and nvidia-cuda-nvcc-cu12 for
# the ptxas and libdevice its compiler needs. Compiles only; into their own part of RESULTS.md.
NEWEST_COMPILE := jax==0.12.0.1 jaxlib==0.12.0.1 jax-cuda12-plugin jax-cuda12-pjrt libtpu \
  nvidia-cuda-nvcc-cu12
NEWEST_PY := /opt/venv-compile/bin/python
bench-backends-newest:
	.ci/in-trixie sh -c 'test -x $(NEWEST_PY) || { python3 -m venv /opt/venv-compile && \
	  grep -vE "^jax(lib)?==" constraints-newest.txt > /tmp/compile.txt && \
	  $(NEWEST_PY) -m pip install -q -c /tmp/compile.txt $(NEWEST_COMPILE) -e ".[test,examples]"; }'
	.ci/in-trixie env $(BACKENDS_ENV) $(NEWEST_PY) benchmarks/backends.py --targets h100 \
	  --json benchmarks/backends-newest.json --section backends-newest --png ""

# The same for one TPU v5e chip, with libtpu (compiles only, slowly).
bench-backends-tpu: $(BACKENDS_VENV)/.plugin
	$(BACKENDS_ENV) $(BACKENDS_VENV)/bin/python benchmarks/backends.py --targets tpu-v5e \
	  --activations jelu.elu "jelu.elu input" jax.nn.elu jax.nn.relu jax.nn.gelu

lint: $(VENV)/.installed
	$(PY) -m ruff check jelu tests examples benchmarks docs
	$(VENV)/bin/pyright

# HTML under docs/_build/html; the doctest builder runs the code in the pages.
docs: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	$(PY) -m sphinx -W --keep-going -q -b doctest docs docs/_build/doctest

# sdist and wheel under dist/, checked by twine and for the licence in the wheel.
dist: $(VENV)/.installed
	rm -rf dist
	$(PY) -m build -q --outdir dist .
	$(PY) -m twine check --strict dist/*
	$(PY) .ci/check_wheel.py dist/*.whl

# The Debian root only when nothing is mounted in it (the checkout is, while .ci/in-trixie runs).
clean:
	rm -rf $(VENV) .venv-oldest $(BACKENDS_VENV) out dist docs/_build .pytest_cache
	grep -qs " $(CURDIR)/.root-trixie/" /proc/mounts || rm -rf .root-trixie

# PTX instructions per element of jelu's and jax.nn's kernels compiled for an H100
# (benchmarks/ptx.json); tests/test_ptx.py holds the relation.
bench-ptx: $(BACKENDS_VENV)/.plugin
	$(BACKENDS_ENV) $(BACKENDS_VENV)/bin/python benchmarks/ptx.py
