"""Worst-case error of jelu and jax.nn against float64 numpy, forward and backward.

- Values in ulps of the output dtype on a dense grid (magnitudes log-spaced from 1e-10 to 30
  and linear from 0 to 30, negated, plus the positive side), derivatives as absolute error
  in ulps of 1.0; the float32 values of ELU and CELU also over 41 alphas log-spaced over
  [0.01, 100].
- The same float32 values in the GPU's arithmetic: jelu's kernel run on numpy float32,
  which, as XLA:GPU's fusions, has no multiply-add (XLA:CPU contracts them).
- The backward pass: relative error of dx (ELU, alpha 1) and of d(alpha) by range of x,
  float32 and bfloat16, for the default residual and ``residual="input"``, beside jax.nn;
  drawn to docs/accuracy_backward.png.

tests/test_accuracy.py asserts bounds on the same measurements.

    python -m benchmarks.accuracy          # from the repository root: prints the tables,
                                           # writes benchmarks/accuracy.json and the figure
    python -m benchmarks.accuracy --fit    # the kernel's polynomial coefficients

It runs as a module so that it imports the references the tests use (tests/reference.py)
as ``tests.reference``.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jelu
from jelu import _expm1
from tests import reference as ref

HERE = pathlib.Path(__file__).resolve().parent

CASES = [("elu", 1.0), ("elu", 0.3), ("elu", 1.7), ("elu", 3.0), ("selu", None), ("celu", 1.0),
         ("celu", 0.3), ("celu", 1.7), ("celu", 3.0)]
# The float32 value sweep: 41 alphas log-spaced over [0.01, 100], as tests/test_accuracy.py.
SWEEP = [float(np.float32(a)) for a in np.geomspace(0.01, 100, 41)]
OURS = {"elu": jelu.elu, "selu": lambda x, a=None: jelu.selu(x), "celu": jelu.celu}
THEIRS = {"elu": jax.nn.elu, "selu": lambda x, a=None: jax.nn.selu(x), "celu": jax.nn.celu}
# Ranges of x for the backward pass's errors.
RANGES = [(-1, 0), (-3, -1), (-5, -3), (-7, -5), (-10, -7), (-17, -10), (-30, -17)]


def fit(degree: int, half_width: float = 0.3466, nodes: int = 4000) -> tuple[float, ...]:
  """P(r) ~ (expm1(r) - r) / r**2 on |r| <= half_width (ln 2 / 2), least squares on Chebyshev
  nodes weighted by |r| (the term's share of expm1(r)), float32 coefficients."""
  r = half_width * np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
  target = (np.expm1(r) - r) / r**2
  weight = np.abs(r)
  coefficients, *_ = np.linalg.lstsq(np.vander(r, degree + 1, increasing=True) * weight[:, None],
                                     target * weight, rcond=None)
  return tuple(float(np.float32(c)) for c in coefficients)


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


def without_multiply_adds(name: str, x: np.ndarray, alpha) -> np.ndarray:
  """jelu's float32 forward in the GPU's arithmetic: its kernel run on numpy float32."""
  selu = name == "selu"
  a = np.float32(ref.SELU_SCALE * ref.SELU_ALPHA if selu else alpha)
  return _expm1.elu_family_float32(x, a, name, ref.SELU_SCALE if selu else 1.0)


def gpu_arithmetic(name: str) -> dict:
  """Worst float32 value error without multiply-adds, at alpha 1 and over the sweep."""
  x = np.asarray(ref.accuracy_grid(jnp.float32))
  x64 = x.astype(np.float64)
  alphas = [None] if name == "selu" else [1.0, *SWEEP]
  worst = {a: float(ref.ulps(without_multiply_adds(name, x, a), ref.VALUES[name](x64, a),
                             jnp.float32).max()) for a in alphas}
  row = {"function": name, "worst": max(worst.values())}
  if name != "selu":
    row["alpha 1"] = worst[1.0]
  return row


def _backward_errors(dtype) -> dict[str, dict[str, np.ndarray]]:
  """{who: {"dx": relative errors, "dalpha": ...}} of ELU (alpha 1) on x in [-30, 0)."""
  x = jnp.asarray(-np.geomspace(30, 1e-3, 20_001), dtype)
  x64 = np.asarray(x, np.float64)
  true = {"dx": np.exp(x64), "dalpha": np.expm1(x64)}
  # d(alpha) takes an array alpha of x's dtype (a flax module casts its float32 param so); a
  # float32 alpha would promote a bfloat16 x, as jax.nn's does, and compute in float32.
  one = jnp.asarray(1.0, dtype)
  calls = {"jelu": lambda v, a=1.0: jelu.elu(v, a),
           'jelu residual="input"': lambda v, a=1.0: jelu.elu(v, a, residual="input"),
           "jax.nn": lambda v, a=1.0: jax.nn.elu(v, a)}
  out = {}
  for who, f in calls.items():
    dx = jax.vmap(jax.grad(lambda v, f=f: f(v).astype(jnp.float32)))(x)
    da = jax.vmap(jax.grad(lambda v, a, f=f: f(v, a).astype(jnp.float32), argnums=1),
                  (0, None))(x, one)
    out[who] = {key: np.abs(np.asarray(got, np.float64) - true[key]) / np.abs(true[key])
                for key, got in (("dx", dx), ("dalpha", da))}
  return {"x": x64, **out}


def backward() -> list[dict]:
  rows, curves = [], {}
  for dtype in (jnp.float32, jnp.bfloat16):
    errors = _backward_errors(dtype)
    x = errors.pop("x")
    curves[jnp.dtype(dtype).name] = (x, errors)
    for lo, hi in RANGES:
      inside = (x >= lo) & (x < hi)
      for who, by_key in errors.items():
        row = {"dtype": jnp.dtype(dtype).name, "range": [lo, hi], "who": who}
        for key, err in by_key.items():
          row[f"{key} max"] = float(err[inside].max())
          row[f"{key} median"] = float(np.median(err[inside]))
        rows.append(row)
  _draw(curves, HERE.parent / "docs" / "accuracy_backward.png")
  return rows


def _draw(curves: dict, path: pathlib.Path) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
  for ax, (dtype, (x, errors)) in zip(axes, curves.items(), strict=True):
    floor = float(jnp.finfo(dtype).eps) / 8
    # jax.nn underneath in larger marks: on jax 0.10 jelu's default has its figures.
    for who in ("jax.nn", "jelu", 'jelu residual="input"'):
      size = 4 if who == "jax.nn" else 1.5
      ax.semilogy(x, np.maximum(errors[who]["dx"], floor), ".", markersize=size, label=who)
    ax.set_title(f"ELU (alpha 1) gradient dx, {dtype}, jax {jax.__version__}")
    ax.set_xlabel("x")
    ax.legend(markerscale=8, fontsize=8)
  axes[0].set_ylabel("relative error against float64 (floored)")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--fit", action="store_true", help="print the polynomials' coefficients")
  parser.add_argument("--json", type=pathlib.Path, default=HERE / "accuracy.json")
  args = parser.parse_args(argv)
  if args.fit:
    print("degree 5:", fit(5))
    print("degree 4:", fit(4))
    return {}
  print(f"jax {jax.__version__}, backend {jax.default_backend()}")
  print("| function | dtype | jelu value (ulp) | jax.nn value (ulp) | jelu slope (ulp of 1) "
        "| jax.nn slope (ulp of 1) |")
  print("|---|---|---|---|---|---|")
  values = []
  for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
    for name, alpha in CASES:
      r = {"function": name, "alpha": alpha, "dtype": jnp.dtype(dtype).name,
           **measure(name, alpha, dtype)}
      values.append(r)
      label = name if alpha is None else f"{name}, alpha={alpha}"
      print(f"| {label} | {r['dtype']} | {r['jelu value']:.2f} | {r['jax.nn value']:.2f} | "
            f"{r['jelu slope']:.2f} | {r['jax.nn slope']:.2f} |")
  print()
  print("| function | alphas | jelu float32 value, worst (ulp) "
        "| jax.nn float32 value, worst (ulp) |")
  print("|---|---|---|---|")
  sweeps = [sweep(name) for name in ("elu", "celu")]
  for r in sweeps:
    print(f"| {r['function']} | {r['alpha']} | {r['jelu value']:.2f} | {r['jax.nn value']:.2f} |")
  print()
  print("| function | float32 without multiply-adds, alpha 1 (ulp) | worst over the alphas (ulp) |")
  print("|---|---|---|")
  gpu = [gpu_arithmetic(name) for name in ("elu", "selu", "celu")]
  for r in gpu:
    alpha_1 = f"{r['alpha 1']:.2f}" if "alpha 1" in r else "-"
    print(f"| {r['function']} | {alpha_1} | {r['worst']:.2f} |")
  print()
  print("| dtype | x | who | dx max | dx median | d(alpha) max | d(alpha) median |")
  print("|---|---|---|---|---|---|---|")
  grads = backward()
  for r in grads:
    print(f"| {r['dtype']} | [{r['range'][0]}, {r['range'][1]}) | {r['who']} | "
          f"{r['dx max']:.2g} | {r['dx median']:.2g} | {r['dalpha max']:.2g} | "
          f"{r['dalpha median']:.2g} |")
  results = {"jax": jax.__version__, "backend": jax.default_backend(), "values": values,
             "sweep": sweeps, "gpu_arithmetic": gpu, "backward": grads}
  args.json.write_text(json.dumps(results, indent=1) + "\n")
  return results


if __name__ == "__main__":
  main()
