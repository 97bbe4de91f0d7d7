"""What the kernel does for XLA's compilers: every measure that is not the math, in one place.

Each measure leaves every value as it is and changes only what a compiled train step keeps
or writes on one backend; each was kept because it buys at least 5 % of a benchmark
network's train-step memory there, on jax 0.10.2 and the newest jax. docs/design.md has the
figures, and how to measure a step without a measure (`disabled`).

=========================  ============  ==================================================
measure                    backend       what it keeps XLA from doing
=========================  ============  ==================================================
`hidden_from_simplifier`   all           regrouping a constant alpha's arithmetic
`materialized`             CPU, 32-bit   recomputing ``y`` in the backward fusions
`narrowed`                 GPU, TPU      keeping float32 copies (GPU) or more (TPU) of a
                                         16-bit result
`written_once_on_cpu`      CPU           recomputing ``dx`` in each of its readers
`fused_sum_summand`        CPU           a library reduction that keeps its summand
`libdevice_expm1_on_gpu`   CUDA          writing the alpha gradient's summand
`summed_together`          GPU           writing one of two sums' summands out in float32
=========================  ============  ==================================================
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

import jax
import jax.numpy as jnp

_Values = TypeVar("_Values")

MEASURES = ("materialized", "narrowed", "written_once_on_cpu", "fused_sum_summand",
            "libdevice_expm1_on_gpu", "summed_together")
_DISABLED: set[str] = set()


@contextlib.contextmanager
def disabled(*names: str) -> Iterator[None]:
  """jelu traced without the named measures while in effect: the benchmarks' hook.

  jax's caches are cleared on the way in and out, since jelu's functions are jitted and a
  trace with the measures would otherwise serve a call without them.
  """
  unknown = set(names) - set(MEASURES)
  if unknown:
    raise ValueError(f"unknown measures {sorted(unknown)}; jelu._xla has {MEASURES}")
  before = set(_DISABLED)
  _DISABLED.update(names)
  jax.clear_caches()
  try:
    yield
  finally:
    _DISABLED.intersection_update(before)
    jax.clear_caches()


def hidden_from_simplifier(a: _Values) -> _Values:
  """A value behind an optimization barrier, so that XLA cannot regroup arithmetic on it.

  Every backend: with a constant alpha XLA rewrites ``x / alpha`` as ``x * (1 / alpha)``
  and folds the polynomial's constants, so results would depend on whether alpha was
  traced. Not a measure of memory; it cannot be disabled.
  """
  return jax.lax.optimization_barrier(a)


def materialized(primal: Callable[[jax.Array], jax.Array], x: jax.Array,
                 a: jax.Array) -> jax.Array:
  """``primal(x)`` inside a conditional on XLA:CPU, for a 32- or 64-bit ``x``.

  XLA:CPU recomputes a cheap elementwise ``y`` inside every consumer that can fuse it; after
  a reshape (a Dense layer on ``[batch, seq, features]``) all of them can, and the step then
  keeps ``x`` and ``exp(x)`` instead of ``y``. A conditional's result is one buffer that the
  next layer and the backward pass share. The predicate reads alpha behind
  `hidden_from_simplifier`, so that XLA cannot fold the conditional away. In 16 bits it
  bought nothing and cost an array after a norm; on the GPU a conditional would
  synchronise with the host.
  """
  def guarded(x):
    first = hidden_from_simplifier(jnp.ravel(a)[0])
    return jax.lax.cond(first == first, primal, lambda v: primal(v), x)

  if ("materialized" in _DISABLED or x.size == 0 or jnp.size(a) == 0
      or jnp.dtype(x.dtype).itemsize < 4):
    return primal(x)
  return jax.lax.platform_dependent(x, cpu=guarded, default=primal)


def narrowed(v: jax.Array, dtype: jnp.dtype, *, output: bool = False) -> jax.Array:
  """``v``, computed in float32, rounded to ``dtype``, in the form each backend keeps best.

  XLA:GPU: its excess precision folds ``f32(bf16(v))`` back to ``v`` and keeps float32
  copies of 16-bit results, so the rounded bits pass through an integer AND with a mask
  XLA cannot see (`narrowed_opaquely`). XLA:TPU: the forward's 16-bit output (``output``)
  goes behind an optimization barrier, which keeps it from being recomputed and kept again
  in the next layers' fusions. XLA:CPU and wider dtypes: the plain rounding.
  """
  dtype = jnp.dtype(dtype)
  if dtype.itemsize > 2 or "narrowed" in _DISABLED:
    return v.astype(dtype)

  def gpu(v):
    return narrowed_opaquely(v, dtype)

  def tpu(v):
    return jax.lax.optimization_barrier(v.astype(dtype)) if output else v.astype(dtype)

  return jax.lax.platform_dependent(v, cuda=gpu, rocm=gpu, tpu=tpu,
                                    default=lambda v: v.astype(dtype))


# dtype positionally: custom_jvp's nondiff_argnums counts positions, and a keyword one
# fails jax_enable_checks' assertions.
@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def narrowed_opaquely(v: jax.Array, dtype: jnp.dtype) -> jax.Array:
  """``v.astype(dtype)`` for a 16-bit ``dtype``, bit for bit, through an opaque integer mask.

  The integer step has no derivative: the tangent is the plain rounding's.
  """
  bits = jax.lax.bitcast_convert_type(v.astype(dtype), jnp.uint16)
  mask = hidden_from_simplifier(jnp.asarray(0xFFFF, jnp.uint16))
  return jax.lax.bitcast_convert_type(bits & mask, dtype)


@narrowed_opaquely.defjvp
def _narrowed_opaquely_jvp(dtype, primals, tangents):
  (v,), (t,) = primals, tangents
  return narrowed_opaquely(v, dtype), t.astype(dtype)


def written_once_on_cpu(dx: jax.Array) -> jax.Array:
  """The backward pass's ``dx`` divided by an opaque 1 on XLA:CPU, so that XLA writes it once.

  XLA:CPU recomputes a cheap ``dx`` in each fusion that reads it; a norm's backward reads
  it three times, and the recomputation kept the last ``y`` (or ``exp(x)``) alive beside
  the sums' operands. XLA never duplicates a division. The divisor is a select between two
  ones XLA cannot see: by one scalar it would multiply by a reciprocal, which it duplicates.
  ``d / 1`` is ``d`` bit for bit, NaN, infinities, signed zeros and subnormals included.
  """
  def cpu(d):
    one, also_one = hidden_from_simplifier((jnp.ones((), d.dtype), jnp.ones((), d.dtype)))
    return d / jnp.where(d > 0, one, also_one)

  if "written_once_on_cpu" in _DISABLED:
    return dx
  return jax.lax.platform_dependent(dx, cpu=cpu, default=lambda d: d)


def fused_sum_summand(t: jax.Array, summand: jax.Array) -> jax.Array:
  """``summand`` for a sum over ``t <= 0`` entries, written so that XLA:CPU fuses the sum.

  ``t > 0`` never holds, but the select keeps XLA:CPU from lowering the alpha gradient's
  sum as a library reduction of a product, which cannot take the polynomial in and kept
  the float32 summand from the forward pass (a learnable alpha in a bfloat16 step).
  """
  if "fused_sum_summand" in _DISABLED:
    return summand
  return jnp.where(t > 0, 0.0, summand)


def libdevice_expm1_on_gpu(t: jax.Array, general: Callable[[jax.Array], jax.Array]) -> jax.Array:
  """``general(t)``, or on XLA:GPU with CUDA XLA's own ``expm1(t)``: the alpha gradient's.

  XLA:GPU's cost model fuses the sum of ``g * expm1(min(x, 0))`` into its reduction with
  XLA's ``expm1`` (CUDA's libdevice ``__nv_expm1f``, within 1 ulp) but not with the
  polynomial of `jelu._expm1.expm1_neg`, whose float32 summand it then writes out.
  """
  if "libdevice_expm1_on_gpu" in _DISABLED:
    return general(t)
  return jax.lax.platform_dependent(t, cuda=jnp.expm1, default=general)


def summed_together(summands: tuple[jax.Array, ...], axes: tuple[int, ...]
                    ) -> tuple[jax.Array, ...]:
  """Each of ``summands`` summed over ``axes`` (kept); on XLA:GPU as one reduction.

  XLA:GPU fuses the elementwise work of two sums over middle axes (a group norm's spatial
  axes, keeping the batch and the channels) into one of them and writes the other's summand
  out as a full float32 array. Stacked on a new last axis, they are one reduction that
  reads its inputs once and writes no array of the input's size (GroupNormAct on the H100,
  bfloat16: 0.446x flax's GroupNorm alone, 0.888x without). Sums that keep no leading axis
  (a batch norm's) XLA fuses as they are; there the stacking cost an array.
  """
  def separate(summands):
    return tuple(jnp.sum(s, axes, keepdims=True) for s in summands)

  def stacked(summands):
    sums = jnp.sum(jnp.stack(summands, -1), axes, keepdims=True)
    return tuple(sums[..., i] for i in range(len(summands)))

  if "summed_together" in _DISABLED or not axes or axes[0] == 0:
    return separate(summands)
  return jax.lax.platform_dependent(summands, cuda=stacked, rocm=stacked, default=separate)
