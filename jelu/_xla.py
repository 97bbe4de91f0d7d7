"""What the kernel does for XLA's compilers, one helper per measure.

The kernel in `jelu._activations` reads as the math; every way in which it is written for
a compiler rather than for the reader lives here. Each helper names the backend it is for,
what the compiled HLO showed without it, and the row of ``benchmarks/RESULTS.md`` it
changes. The tables there come from ``python benchmarks/run.py`` (XLA:CPU) and
``python benchmarks/backends.py`` (XLA:CPU and XLA:GPU compiled for an H100, float32 and
bfloat16), and the tests that pin them are ``tests/test_memory.py`` and
``tests/test_backends.py``.

=========================  =======  ==============================================
helper                     backend  what it keeps XLA from doing
=========================  =======  ==============================================
`hidden_from_simplifier`   all      regrouping a constant alpha's arithmetic
`materialized`             CPU      recomputing ``y`` in the backward fusions
`rounded`                  GPU      keeping a float32 copy of a 16-bit output
`fused_sum_summand`        CPU      a library reduction that keeps its summand
=========================  =======  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def hidden_from_simplifier(a: jax.Array) -> jax.Array:
  """Hides alpha's value from XLA's simplifier (every backend).

  With a constant alpha (a python float under an outer jit) XLA rewrites
  x / alpha as x * (1 / alpha) and regroups the polynomial's constants, which
  changes the rounding: results would then depend on whether alpha was traced.
  Behind the barrier they are the same bits either way.
  """
  return jax.lax.optimization_barrier(a)


def materialized(primal: Callable[[jax.Array], jax.Array], x: jax.Array,
                 a: jax.Array) -> jax.Array:
  """``primal(x)`` inside a conditional on XLA:CPU, so that XLA keeps ``y`` itself.

  XLA:CPU duplicates a cheap elementwise producer into its consumers when all
  of them can fuse it. When ``y`` is reshaped on its way to the next layer (a
  Dense layer on a ``[batch, seq, features]`` input collapses it to 2-D for the
  matmul) every consumer of the final ``select`` can fuse, so XLA recomputes
  ``y`` in the backward fusions from ``x`` and ``exp(min(x, 0))`` and keeps
  those two arrays alive instead of ``y``: twice the memory (RESULTS.md, the
  CPU's mlp-3d, pre-ln and mixer rows). A conditional's result cannot be fused
  into anything, so computed inside one, ``y`` is one buffer that the next
  layer and this backward pass share. Both branches are the same computation,
  so the value is the primal's bit for bit whichever runs; the predicate is
  read from alpha behind `hidden_from_simplifier`, so XLA cannot fold the
  conditional away. Only on the CPU: a GPU conditional copies its predicate to
  the host, a synchronisation per activation, and XLA:GPU keeps ``y`` without it.
  """
  def guarded(x):
    first = hidden_from_simplifier(jnp.ravel(a)[0])
    return jax.lax.cond(first == first, primal, lambda v: primal(v), x)

  if x.size == 0 or jnp.size(a) == 0:
    return primal(x)
  return jax.lax.platform_dependent(x, cpu=guarded, default=primal)


def rounded(y: jax.Array) -> jax.Array:
  """A 16-bit output behind a barrier, so that every reader gets its rounded bits (XLA:GPU).

  jelu computes a bfloat16 or float16 ``y`` in float32 and rounds it once; its
  backward pass, a float32 loss or a norm's float32 statistics widen it again.
  XLA:GPU allows excess precision (``--xla_allow_excess_precision``, on by
  default) and folds ``convert(convert(y32 -> bf16) -> f32)`` to ``y32``: the
  forward fusion then writes the float32 ``y32`` beside ``y`` and keeps it
  until its last reader, 6 bytes per element where 2 would do (RESULTS.md, the
  H100 bfloat16 table: mlp-2d needed 2.56x the network without activation
  where ReLU needs 1.10x; now 1.10x). Behind the barrier, which XLA:GPU
  aliases to its operand, no widening can be folded and only the 16-bit array
  is kept. Used for the output residual only: on a kept input
  (``residual="input"``) the barrier would stop XLA from recomputing ``x`` from
  what a norm keeps (cnn-bn bfloat16 1.33x -> 1.66x). XLA:CPU expands barriers
  away; float32 and float64 values are returned as they are.
  """
  if jnp.dtype(y.dtype).itemsize > 2:
    return y
  return jax.lax.optimization_barrier(y)


def fused_sum_summand(t: jax.Array, summand: jax.Array) -> jax.Array:
  """``summand`` for a sum over ``t <= 0`` entries, written so XLA:CPU fuses the sum.

  ``t > 0`` never holds (``t <= 0``, or NaN, which the select passes on), but a
  select keeps XLA:CPU from lowering the alpha gradient's sum as a library
  (YNNPACK) reduction of a product, which cannot take the polynomial in: that
  materialised the summand as a float32 array, computed in the forward pass
  and kept (4 bytes per unit in a bfloat16 step with a learnable alpha, where
  jax.nn keeps 2; RESULTS.md's mixed-precision row: 176 MiB, now 112). XLA's
  own reduction fuses the whole chain and keeps nothing.
  """
  return jnp.where(t > 0, 0.0, summand)
