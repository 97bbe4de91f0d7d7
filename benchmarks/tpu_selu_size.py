"""Why XLA:TPU gets another SELU kernel than the CPU and the GPU: the size of the kernel.

XLA:TPU fuses jelu's ELU into the matmul that reads it and recomputes it there, so the step
keeps only what jax.nn's keeps. SELU's kernel is a few operations larger (its positive
branch is ``lambda * x`` rounded once), and above a size XLA:TPU writes it in a loop fusion
of its own instead, whose output is kept: with ``jelu._expm1.scaled_linear``, which the CPU
and the GPU get, mlp-3d needs 160.37 MiB where jax.nn's SELU needs 145.37. The TPU gets
``jelu._expm1.scaled_significand`` (``jelu._xla.smaller_on_tpu``): the same values from
fewer operations, fused.

This compiles the float32 mlp-3d step for a TPU v5e with SELU's positive branch written
five ways, nothing else changed, and prints the temp memory and the number of operations in
the fusion that computes SELU (those that do work: parameters, constants, broadcasts, iotas
and bitcasts left out):

- ``jelu``: jelu's kernel as the TPU gets it (``scaled_significand``).
- ``scaled_linear``: the CPU's and the GPU's positive branch, with its care for tiny inputs.
- ``split alone``: ``scaled_linear`` without that care (wrong by up to 10812 ulps for
  inputs in [2**-126, 2**-103] where subnormals are flushed, so not jelu's).
- ``split + N xor``: the split alone after N exclusive-ors of the input's bits with
  constants, which XLA cannot fold away: only the size counts, the values are not SELU's.

Compiles only (about 20 s per step); run in ``make bench-backends-tpu``'s environment:

    JAX_PLATFORMS=cpu .venv-backends/bin/python benchmarks/tpu_selu_size.py
"""

from __future__ import annotations

import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import backends  # noqa: E402  (sets the environment libtpu needs before jax starts)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jelu._activations  # noqa: E402
from jelu import _expm1  # noqa: E402

# Operations that move or name data rather than compute.
_FREE = {"parameter", "constant", "broadcast", "iota", "bitcast-convert", "bitcast", "tuple",
         "get-tuple-element"}


def split_alone(x: jax.Array, scale: float, xors: int = 0) -> jax.Array:
  """``scale * x`` by the 12-bit split of ``scaled_linear``, without its tiny-input care."""
  if xors:
    bits = jax.lax.bitcast_convert_type(x, jnp.int32)
    for i in range(xors):
      bits = bits ^ np.int32(1 << i)
    x = jax.lax.bitcast_convert_type(bits, jnp.float32)
  s_hi, s_mid = _expm1._halves(scale)
  x_hi, x_lo = _expm1._split(jnp.minimum(x, np.finfo(np.float32).max))
  return x_hi * s_hi - (x_lo * -scale - x_hi * s_mid)


def kernel_ops(hlo_text: str) -> int:
  """Working operations in the largest fusion computation that holds SELU's ``s_hi`` constant.

  A fusion holding a convolution (the matmul that recomputes SELU) is left out, so the count
  is the kernel's own whether XLA fused it into the matmul or wrote it alone.
  """
  s_hi = np.float32(jelu._activations.SELU_SCALE).view(np.uint32) & np.uint32(0xFFFFF000)
  constant = f"constant({float(s_hi.view(np.float32)):.9g})"
  counts = [0]
  for computation in hlo_text.split("\n\n"):
    if constant not in computation or " convolution(" in computation:
      continue
    ops = re.findall(r"= \S+ ([a-z-]+)\(", computation)
    counts.append(sum(op not in _FREE for op in ops))
  return max(counts)


def compiled_step(act_name: str):
  """The float32 mlp-3d step around ``act_name``, compiled for a TPU v5e."""
  arch = backends.architectures.architectures(1, False)["mlp-3d"]
  return backends.compiled_step("tpu-v5e", "float32", arch, act_name)


def measure(positive) -> tuple[float, int]:
  with backends.swapped(scaled_significand=positive):
    compiled = compiled_step("jelu.selu")
  return compiled.memory_analysis().temp_size_in_bytes / 2**20, kernel_ops(compiled.as_text())


def main() -> None:
  reference = compiled_step("jax.nn.selu").memory_analysis().temp_size_in_bytes
  print(f"TPU v5e, float32 mlp-3d; jax.nn.selu {reference / 2**20:.2f} MiB")
  print("| SELU's positive branch | temp MiB | kernel operations |")
  print("|---|---|---|")
  variants = {"jelu": _expm1.scaled_significand, "scaled_linear": _expm1.scaled_linear,
              "split alone": split_alone}
  for xors in (4, 5):
    variants[f"split + {xors} xor"] = lambda x, scale, n=xors: split_alone(x, scale, n)
  for name, positive in variants.items():
    mib, ops = measure(positive)
    print(f"| {name} | {mib:.2f} | {ops} |", flush=True)


if __name__ == "__main__":
  main()
