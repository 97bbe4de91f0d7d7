"""Worst-case error of jelu and jax.nn against float64 numpy on a dense grid.

Values in ulps of the output dtype; derivatives as absolute error in ulps of 1.0
in the input dtype. The grid: magnitudes log-spaced from 1e-10 to 30 and linear
from 0 to 30, negated, plus the positive side. tests/test_accuracy.py asserts
bounds on the same measurements.

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

CASES = [("elu", 1.0), ("elu", 0.3), ("elu", 1.7), ("selu", None), ("celu", 1.0), ("celu", 0.3),
         ("celu", 1.7)]
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
  (HERE / "accuracy.json").write_text(json.dumps(rows, indent=1) + "\n")
  return rows


if __name__ == "__main__":
  main()
