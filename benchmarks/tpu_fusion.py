"""Why jelu's bfloat16 step after a norm needs more than jax.nn's on XLA:TPU: a fusion's cost.

On a TPU v5e in bfloat16, after a BatchNorm or GroupNorm, jax.nn's ELU needs what the network
without activation needs and jelu's 1.59x. XLA:TPU fuses an elementwise producer into the
convolution that reads it (the next layer's forward convolution and its weight gradient) and
recomputes it there from the convolution output the norm keeps anyway, so a cheap activation
stores nothing. jelu's output is kept apart behind a barrier on the TPU, for the networks
after Dense layers, so it is written and kept, one array per layer; without the barrier
jelu's once-rounded kernel is fused and the step needs one array more than jax.nn's, and a
kernel 40 multiply-adds costlier is not fused at all: XLA:TPU fuses only a producer cheap
enough. A kernel as cheap as jax.nn's, XLA's own ``expm1`` times alpha in float32, is fused
wherever jax.nn's is: without the barrier the default needs jax.nn's memory in every network
(so more than with it after Dense layers), and ``residual="input"`` needs jax.nn's memory in
every network, after the norms too; but its values are not jelu's (the values table).

This compiles the steps with jelu's kernel swapped, nothing else changed: the kernel (jelu's;
``single-float``: the negative branch as ``alpha * expm1_neg(x)``, 24 operations and an
``exp``, rounded in float32 before the final rounding, so not jelu's accuracy; that with 40
more multiply-adds per element, whose polynomial is added scaled by 1e-30: only the cost
counts, nothing runs; or ``XLA's expm1``: ``alpha * jnp.expm1(x)``, CELU's ``x / alpha``
divided first, and that with 2 or 4 multiply-adds more the same way), with the TPU's barrier
on the kept output (``jelu._xla.kept_apart_on_tpu``) kept or dropped, and for jelu's and
XLA's kernels also with ``residual="input"``. Beside them ``jax.nn.elu`` and no activation
(``identity``).

It prints the temp memory of each (MiB, and in brackets the multiple of no activation), for
the networks after a norm and three after Dense and Conv layers, where jelu's kept output is
what the next layer keeps anyway. Then, on this CPU, what the other kernels would give: for
every negative finite bfloat16 input, how many of their values differ from jelu's, and in how
many of those jelu's, and theirs, is the float64 value rounded once to bfloat16 (XLA's
``expm1`` here is XLA:CPU's; the TPU's own is not run). Refreshes the ``tpu_fusion`` part of
``benchmarks/RESULTS.md``. Compiles only (5-70 s per step); run in ``make
bench-backends-tpu``'s environment:

    JAX_PLATFORMS=cpu .venv-backends/bin/python benchmarks/tpu_fusion.py
"""

from __future__ import annotations

import functools
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # tests.reference, as benchmarks/accuracy.py uses it
import backends  # noqa: E402  (sets the environment libtpu needs before jax starts)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

import jelu  # noqa: E402
from jelu._expm1 import expm1_neg  # noqa: E402
from tests import reference  # noqa: E402

ARCHS = ("cnn-bn", "cnn-gn", "mlp-2d", "mlp-3d", "cnn")


def _costlier(value, t, extra):
  # ``extra`` multiply-adds more per element: a polynomial in t added scaled by 1e-30, so the
  # values do not change; only XLA's cost of the kernel does.
  p = t
  for i in range(extra):
    p = p * t + 1.0 / (i + 2)
  return value + 1e-30 * p if extra else value


def _single_float(t, a, *, divide=False, a_exact=None, extra=0):
  # Not jelu's function at t = -0 (it gives +0 there, so the TPU's single select would not
  # be the three-way one): only what XLA:TPU keeps is measured with it, never a value.
  del a_exact
  t = t / a if divide else t
  return _costlier(a * expm1_neg(t), t, extra)


def _xla_expm1(t, a, *, divide=False, a_exact=None, extra=0):
  # jax.nn's arithmetic in float32: XLA's expm1 op, then one product (CELU's quotient first).
  del a_exact
  t = t / a if divide else t
  return _costlier(a * jnp.expm1(t), t, extra)


# kernel name -> jelu's negative branch swapped in (None: jelu's own)
KERNELS = {
    "jelu": None,
    "single-float": functools.partial(_single_float, extra=0),
    "single-float + 40": functools.partial(_single_float, extra=40),
    "XLA's expm1": _xla_expm1,
    "XLA's expm1 + 2": functools.partial(_xla_expm1, extra=2),
    "XLA's expm1 + 4": functools.partial(_xla_expm1, extra=4),
}


def _kernel(kernel: str, barrier: bool):
  """jelu with the negative branch of ``KERNELS[kernel]`` and with or without the TPU's
  barrier, while in effect (``backends.swapped``)."""
  names = {}
  if KERNELS[kernel] is not None:
    names["scaled_expm1_neg"] = KERNELS[kernel]
  if not barrier:
    names["kept_apart_on_tpu"] = lambda y: y
  return backends.swapped(**names)


# column -> (activation, kernel, barrier kept)
VARIANTS = {
    "identity": ("identity", "jelu", True),
    "jax.nn.elu": ("jax.nn.elu", "jelu", True),
    "jelu.elu": ("jelu.elu", "jelu", True),
    "jelu, no barrier": ("jelu.elu", "jelu", False),
    "single-float, barrier": ("jelu.elu", "single-float", True),
    "single-float, no barrier": ("jelu.elu", "single-float", False),
    "single-float + 40, no barrier": ("jelu.elu", "single-float + 40", False),
    "XLA's expm1, barrier": ("jelu.elu", "XLA's expm1", True),
    "XLA's expm1, no barrier": ("jelu.elu", "XLA's expm1", False),
    'jelu, "input"': ("jelu.elu input", "jelu", True),
    'XLA\'s expm1, "input"': ("jelu.elu input", "XLA's expm1", True),
    'XLA\'s expm1 + 2, "input"': ("jelu.elu input", "XLA's expm1 + 2", True),
    'XLA\'s expm1 + 4, "input"': ("jelu.elu input", "XLA's expm1 + 4", True),
}


def table(scale: int = 1) -> str:
  """Temp MiB (multiple of no activation) of the bfloat16 step on a TPU v5e, per variant."""
  lines = ["| network | " + " | ".join(VARIANTS) + " |", "|---" * (len(VARIANTS) + 1) + "|"]
  for arch in ARCHS:
    temp = {}
    for name, (act, kernel, barrier) in VARIANTS.items():
      with _kernel(kernel, barrier):
        temp[name] = backends.measure("tpu-v5e", "bfloat16", arch, act, scale)["temp_bytes"]
    none = temp["identity"]
    cells = [f"{none / 2**20:.1f}"] + [f"{temp[n] / 2**20:.1f} ({temp[n] / none:.2f})"
                                        for n in list(VARIANTS)[1:]]
    lines.append(f"| {arch} | " + " | ".join(cells) + " |")
    print(lines[-1], flush=True)
  return "\n".join(lines) + "\n"


VALUE_CASES = [("elu", 1.0), ("elu", 1.7), ("elu", 3.0), ("celu", 1.0), ("celu", 3.0),
               ("selu", None)]


def rounded_once(v: np.ndarray) -> np.ndarray:
  """float64 values rounded to nearest-even bfloat16 in one step (numpy and ml_dtypes
  would go through float32 first: two roundings)."""
  m, e = np.frexp(v)  # v = m * 2**e, 0.5 <= |m| < 1
  # bfloat16 keeps 8 significant bits, down to 2**-133 in its subnormal range.
  e = np.maximum(e, -125)
  return (np.rint(np.ldexp(v, 8 - e)) * np.exp2(e - 8)).astype(np.float32).astype(
      ml_dtypes.bfloat16)


# the kernels of KERNELS whose values values() compares with jelu's
COMPARED = ("single-float", "XLA's expm1")


def values() -> str:
  """Per function and alpha: bfloat16 inputs where each kernel of ``COMPARED`` gives another
  value than jelu's, and in how many of those jelu's, and that kernel's, is the float64 value
  rounded once."""
  x = np.arange(2**16, dtype=np.uint16).view(ml_dtypes.bfloat16)
  x = x[np.isfinite(x.astype(np.float32)) & (x.astype(np.float32) < 0)]
  header = ["function", "alpha", "negative inputs"]
  for kernel in COMPARED:
    header += [f"{kernel}: values that differ", "jelu's rounded once", f"{kernel}'s"]
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  for name, alpha in VALUE_CASES:
    fn = getattr(jelu, name)
    args = () if alpha is None else (alpha,)
    ours = np.asarray(fn(jnp.asarray(x), *args)).view(np.uint16)
    a32 = None if alpha is None else float(np.float32(alpha))
    exact = rounded_once(reference.VALUES[name](x.astype(np.float64), a32)).view(np.uint16)
    cells = [name, "default" if alpha is None else str(alpha), str(x.size)]
    for kernel in COMPARED:
      with _kernel(kernel, barrier=True):
        theirs = np.asarray(fn(jnp.asarray(x), *args)).view(np.uint16)
      differ = ours != theirs
      cells += [str(int(differ.sum())), str(int((differ & (ours == exact)).sum())),
                str(int((differ & (theirs == exact)).sum()))]
    lines.append("| " + " | ".join(cells) + " |")
    print(lines[-1], flush=True)
  return "\n".join(lines) + "\n"


def main() -> None:
  body = (f"{backends.machine()['cpu']}; jax {jax.__version__}; TPU v5e, bfloat16, "
          f"compiled with `backends.TPU_COMPILER_OPTIONS`.\n\n{table()}\n"
          f"Values of the other kernels, every negative finite bfloat16 input, on this "
          f"CPU:\n\n{values()}")
  backends.run.write_results_md(HERE / "RESULTS.md", body, section="tpu_fusion")


if __name__ == "__main__":
  main()
