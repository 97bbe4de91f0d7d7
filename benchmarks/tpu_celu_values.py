"""CELU as XLA:TPU computes it, its quotient by ``1 / alpha``, against the division: every input.

On XLA:TPU jelu's CELU takes ``x / alpha`` as ``x * (1 / alpha)`` and keeps its remainder
(``jelu._expm1.celu_by_reciprocal``, chosen by ``jelu._xla.smaller_on_tpu``), because a
division keeps XLA:TPU from fusing the kernel into the matmul. XLA:CPU and XLA:GPU divide.
This runs both on this CPU over every negative float32 from -0 down to ``-32 * alpha``
(below, both give ``-alpha``, checked on every 64th input) at a few alphas, and prints how
many values differ and the worst error of each over all those inputs, in ulps against
float64 numpy, and writes the table to ``benchmarks/tpu_celu_values.json``. About a minute
per alpha:

    python -m benchmarks.tpu_celu_values     # from the repository root
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jelu
from jelu import _expm1

ALPHAS = (0.01, 0.3, 1.0, 1.7, 2.0, 3.0, 100.0)
_CHUNK = 1 << 24
_JSON = pathlib.Path(__file__).with_suffix(".json")


def _worst_ulps(y: np.ndarray, x: np.ndarray, a: float) -> float:
  expected = a * np.expm1(x.astype(np.float64) / a)
  ulp = np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64)
  return float(np.max(np.abs(y.astype(np.float64) - expected) / ulp))


def compare(alpha: float, step: int = 1) -> dict:
  """The row for one alpha, over every ``step``-th input (1: all of them)."""
  a = float(np.float32(alpha))
  division = jax.jit(lambda v: jelu.celu(v, a))
  reciprocal = jax.jit(lambda v: _expm1.celu_by_reciprocal(v, jnp.float32(a)))
  last = int(np.float32(-32 * a).view(np.uint32))
  row = {"alpha": a, "inputs": 0, "differ": 0, "division": 0.0, "reciprocal": 0.0}
  for start in range(0x80000000, last + 1, _CHUNK):
    x = np.arange(start, min(start + _CHUNK, last + 1), step, dtype=np.uint32).view(np.float32)
    ours, theirs = np.asarray(reciprocal(x)), np.asarray(division(x))
    row["inputs"] += x.size
    row["differ"] += int(np.count_nonzero(ours.view(np.uint32) != theirs.view(np.uint32)))
    row["reciprocal"] = max(row["reciprocal"], _worst_ulps(ours, x, a))
    row["division"] = max(row["division"], _worst_ulps(theirs, x, a))
  below = np.arange(last + 1, 0xFF800001, 64 * step, dtype=np.uint32).view(np.float32)
  saturated = np.asarray(reciprocal(below)), np.asarray(division(below))
  assert all(np.all(y == np.float32(-a)) for y in saturated), alpha
  return row


def main(out: pathlib.Path = _JSON, alphas: tuple[float, ...] = ALPHAS,
         step: int = 1) -> list[dict]:
  print("Every negative float32 down to -32 alpha, on this CPU; worst error in ulps.")
  print("| alpha | inputs | values that differ | worst, division | worst, 1 / alpha |")
  print("|---|---|---|---|---|")
  rows = []
  for alpha in alphas:
    row = compare(alpha, step)
    rows.append(row)
    print(f"| {row['alpha']:.7g} | {row['inputs']:,} | {row['differ']:,} | "
          f"{row['division']:.4f} | {row['reciprocal']:.4f} |", flush=True)
  out.write_text(json.dumps({"backend": jax.default_backend(), "rows": rows}, indent=1) + "\n")
  return rows


if __name__ == "__main__":
  main()
