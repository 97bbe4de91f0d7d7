"""Worst-case error of jelu and jax.nn against float64 numpy on a dense grid.

Values in ulps of the output dtype; derivatives as absolute error in ulps of 1.0
in the input dtype. The grid: magnitudes log-spaced from 1e-10 to 30 and linear
from 0 to 30, negated, plus the positive side; the float32 values of ELU and CELU
are also swept over 41 alphas log-spaced over [0.01, 100]. tests/test_accuracy.py
asserts bounds on the same measurements.

    python -m benchmarks.accuracy     # from the repository root: prints the table,
                                      # writes benchmarks/accuracy.json

It runs as a module so that it imports the references the tests use
(tests/reference.py) as ``tests.reference``.
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jelu
from tests import reference as ref

HERE = pathlib.Path(__file__).resolve().parent

CASES = [("elu", 1.0), ("elu", 0.3), ("elu", 1.7), ("elu", 3.0), ("selu", None), ("celu", 1.0),
         ("celu", 0.3), ("celu", 1.7), ("celu", 3.0)]
# The float32 value sweep: 41 alphas log-spaced over [0.01, 100], as tests/test_accuracy.py.
SWEEP = [float(np.float32(a)) for a in np.geomspace(0.01, 100, 41)]
OURS = {"elu": jelu.elu, "selu": lambda x, a=None: jelu.selu(x), "celu": jelu.celu}
THEIRS = {"elu": jax.nn.elu, "selu": lambda x, a=None: jax.nn.selu(x), "celu": jax.nn.celu}


def measure(name: str, alpha, dtype) -> dict:
  x = ref.accuracy_grid(dtype)
  a = 1.0 if alpha is None else alpha
  x64 = np.asarray(x, np.float64)
  expected = ref.VALUES[name](x64, np.float64(np.float32(a)))
  slope = ref.DERIVS[name](x64, np.float64(np.float32(a)))
  eps = float(jnp.finfo(dtype).eps)
  row = {}
  for who, f in (("jelu", OURS[name]), ("jax.nn", THEIRS[name])):
    y = f(x, alpha) if alpha is not None else f(x)
    g = jax.vmap(jax.grad(lambda v, f=f: f(v, alpha) if alpha is not None else f(v)))(x)
    row[f"{who} value"] = float(ref.ulps(y, expected, dtype).max())
    row[f"{who} slope"] = float(np.max(np.abs(np.asarray(g, np.float64) - slope)) / eps)
  return row


def sweep(name: str) -> dict:
  """Worst float32 value error over the alpha sweep, for jelu and jax.nn."""
  x = ref.accuracy_grid(jnp.float32)
  x64 = np.asarray(x, np.float64)
  row = {"function": name, "alpha": f"{len(SWEEP)} in [0.01, 100]", "dtype": "float32"}
  for who, f in (("jelu", OURS[name]), ("jax.nn", THEIRS[name])):
    row[f"{who} value"] = max(float(ref.ulps(f(x, a), ref.VALUES[name](x64, a), jnp.float32).max())
                              for a in SWEEP)
  return row


def main() -> list[dict]:
  print(f"jax {jax.__version__}, backend {jax.default_backend()}")
  print("| function | dtype | jelu value (ulp) | jax.nn value (ulp) | jelu slope (ulp of 1) "
        "| jax.nn slope (ulp of 1) |")
  print("|---|---|---|---|---|---|")
  rows = []
  for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
    for name, alpha in CASES:
      r = {"function": name, "alpha": alpha, "dtype": jnp.dtype(dtype).name,
           **measure(name, alpha, dtype)}
      rows.append(r)
      label = name if alpha is None else f"{name}, alpha={alpha}"
      print(f"| {label} | {r['dtype']} | {r['jelu value']:.2f} | {r['jax.nn value']:.2f} | "
            f"{r['jelu slope']:.2f} | {r['jax.nn slope']:.2f} |")
  print()
  print("| function | alphas | jelu float32 value, worst (ulp) "
        "| jax.nn float32 value, worst (ulp) |")
  print("|---|---|---|---|")
  for name in ("elu", "celu"):
    r = sweep(name)
    rows.append(r)
    print(f"| {name} | {r['alpha']} | {r['jelu value']:.2f} | {r['jax.nn value']:.2f} |")
  (HERE / "accuracy.json").write_text(json.dumps(rows, indent=1) + "\n")
  return rows


if __name__ == "__main__":
  main()
