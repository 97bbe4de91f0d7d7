"""What the tests share besides fixtures: the activations by name, the grid to check on, and
the jax release under test."""

import contextlib
import importlib.util
import io
import pathlib
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.ad_checkpoint import print_saved_residuals

import jelu

# (major, minor) of the jax under test: XLA's buffer assignment differs between releases, and
# the memory tests mark a relation that does not hold on one with `fails_where`.
JAX_RELEASE = tuple(int(part) for part in jax.__version__.split(".")[:2])

# The three activations as (jelu function, jax.nn function), called with alpha
# where they take one. SELU's alpha is fixed, so callers pass None.
ACTIVATIONS = {
    "elu": (jelu.elu, jax.nn.elu),
    "selu": (lambda x, alpha=None: jelu.selu(x), lambda x, alpha=None: jax.nn.selu(x)),
    "celu": (jelu.celu, jax.nn.celu),
}

# (name, alpha) pairs: SELU's alpha is fixed, so it takes None.
CASES = [("selu", None)] + [(n, a) for n in ("elu", "celu") for a in (0.5, 1.0, 2.0)]

# A grid over both branches: log-spaced tails, a dense middle, 0 itself.
GRID = np.concatenate([
    -np.logspace(-8, 2, 60), np.linspace(-6, 6, 121), np.logspace(-8, 2, 60), [0.0],
]).astype(np.float32)


def flushes_subnormals() -> bool:
  """Whether the default backend's float32 arithmetic flushes subnormals to zero: XLA:CPU's
  does (and a TPU's), XLA:GPU's keeps them."""
  return float(jax.jit(lambda v: v * 2)(np.float32(2.0**-140))) == 0.0


def subnormal(x) -> np.ndarray:
  x = np.abs(np.asarray(x, np.float32))
  return (x > 0) & (x < np.finfo(np.float32).tiny)


def call(name, x, alpha=None):
  f = ACTIVATIONS[name][0]
  return f(x) if alpha is None else f(x, alpha)


def call_jax_nn(name, x, alpha=None):
  f = ACTIVATIONS[name][1]
  return f(x) if alpha is None else f(x, alpha)


def saved(f, *args):
  """(shape, dtype) of each residual `print_saved_residuals` reports, with its line."""
  buf = io.StringIO()
  with contextlib.redirect_stdout(buf):
    print_saved_residuals(f, *args)
  return [line for line in buf.getvalue().splitlines() if line.strip()]


def assert_reexports_the_functions(module):
  """``module`` (jelu.linen or jelu.nnx) re-exports jelu's functions and lists all in __all__."""
  assert (module.elu, module.selu, module.celu, module.alpha_dropout) == (
      jelu.elu, jelu.selu, jelu.celu, jelu.alpha_dropout)
  assert set(module.__all__) == {"ELU", "SELU", "CELU", "AlphaDropout", "BatchNormAct",
                                 "GroupNormAct", "LayerNormAct", "elu", "selu", "celu",
                                 "alpha_dropout"}
  assert all(hasattr(module, name) for name in module.__all__)


def fails_where(condition: bool, reason: str) -> pytest.MarkDecorator:
  """A strict xfail: where ``condition`` holds the test must fail, and passing is news.

  For a relation that one jax release does not meet; ``reason`` gives the measured numbers.
  """
  return pytest.mark.xfail(condition, strict=True, reason=reason)


def live_peak(*args: str) -> tuple[int, int, str]:
  """(temp bytes, live-peak bytes, the printout) of benchmarks/live_peak.py with ``args``,
  run as a script: it sets XLA_FLAGS before jax starts, which a test process is past."""
  script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "live_peak.py"
  out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                       check=True).stdout
  m = re.search(r"temp [\d.]+ MiB \((\d+) bytes\), live peak [\d.]+ MiB \((\d+) bytes\)", out)
  assert m is not None, out
  return int(m.group(1)), int(m.group(2)), out


def load_benchmark(name: str):
  """benchmarks/<name>.py as the module ``name``, as its siblings import one another (once)."""
  if name in sys.modules:
    return sys.modules[name]
  path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
  spec = importlib.util.spec_from_file_location(name, path)
  assert spec is not None and spec.loader is not None
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # flax's dataclasses look their module up there
  spec.loader.exec_module(module)
  return module

