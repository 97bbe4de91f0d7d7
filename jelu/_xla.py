"""What the kernel does for XLA's compilers, one helper per measure.

The kernel in `jelu._activations` reads as the math; every way in which it is written for
a compiler rather than for the reader lives here. Each helper names the backend it is for,
what the compiled HLO showed without it, and the row of ``benchmarks/RESULTS.md`` it
changes. The tables there come from ``python benchmarks/run.py`` (XLA:CPU),
``python benchmarks/backends.py`` (XLA:CPU, and XLA:GPU and XLA:TPU compiled for an H100
and a TPU v5e, float32 and bfloat16) and ``python benchmarks/mixed_precision.py`` (a
learnable alpha; ``--target h100``); the tests that pin them are ``tests/test_memory.py``
and ``tests/test_backends.py``, and ``tests/test_dtypes.py`` checks which backend's program
gets which measure.

============================  =======  ==============================================
helper                        backend  what it keeps XLA from doing
============================  =======  ==============================================
`hidden_from_simplifier`      all      regrouping a constant alpha's arithmetic
`materialized`                CPU      recomputing ``y`` in the backward fusions
`rounded`                     GPU      keeping float32 copies of 16-bit results
`kept_apart_on_tpu`           TPU      keeping more around a 16-bit output
`forward_output_read_on_tpu`  TPU      keeping a 16-bit output (``residual="input"``)
`written_once_on_cpu`         CPU      recomputing ``dx`` in each of its readers
`fused_sum_summand`           CPU      a library reduction that keeps its summand
`libdevice_expm1_on_gpu`      CUDA     writing the alpha gradient's summand
============================  =======  ==============================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp

_Values = TypeVar("_Values")


def hidden_from_simplifier(a: _Values) -> _Values:
  """Hides a value (an array, or a tuple of them) from XLA's simplifier (every backend).

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


def rounded(v: jax.Array, dtype: jnp.dtype) -> jax.Array:
  """``v``, computed in float32, rounded to ``dtype`` so that XLA:GPU cannot widen it back.

  jelu computes a bfloat16 or float16 result (the output ``y``, and the backward
  pass's ``dx``) in float32 and rounds it once; the backward pass, a float32
  loss or a norm's float32 statistics widen it again. XLA:GPU allows excess
  precision (``--xla_allow_excess_precision``, on by default) and folds
  ``convert(convert(v32 -> bf16) -> f32)`` to ``v32``: fusions then write and
  keep the float32 ``v32`` where 2 bytes per element would do. RESULTS.md, the
  H100 bfloat16 table: with a plain rounding of ``y``, mlp-2d needed 2.56x the
  network without activation (ReLU 1.10x); of ``dx``, the GroupNorm backward
  kept float32 arrays (cnn-gn 1.11x, jax.nn 0.78x). On the GPU the rounded bits
  therefore pass through an integer AND with a mask XLA cannot see
  (`hidden_from_simplifier`): XLA's own rounding bit for bit, with no convert
  pair left to fold, and still fused into its neighbours (a barrier on ``y``
  itself, used before, made every ``y`` a kernel output of its own: 7 % more
  kernel traffic than jax.nn in the CNN, and it left ``dx`` to the fold). The
  integer step has no derivative, so its tangent is declared to be the plain
  rounding's (``jax.hessian`` differentiates through it). XLA:CPU and XLA:TPU
  get the plain ``astype``: the mask changed nothing measured on the CPU and
  made the TPU keep more after a BatchNorm (see `kept_apart_on_tpu` for what the
  TPU gets). Float32 and float64 are returned as they are.
  """
  dtype = jnp.dtype(dtype)
  if dtype.itemsize > 2:
    return v.astype(dtype)
  # dtype positionally: custom_jvp's nondiff_argnums counts positions, and a keyword one
  # fails jax_enable_checks' assertions.
  def gpu(v):
    return narrowed_opaquely(v, dtype)

  return jax.lax.platform_dependent(v, cuda=gpu, rocm=gpu, default=lambda v: v.astype(dtype))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def narrowed_opaquely(v: jax.Array, dtype: jnp.dtype) -> jax.Array:
  """``v.astype(dtype)`` for a 16-bit ``dtype``, bit for bit, through an opaque integer mask."""
  bits = jax.lax.bitcast_convert_type(v.astype(dtype), jnp.uint16)
  mask = hidden_from_simplifier(jnp.asarray(0xFFFF, jnp.uint16))
  return jax.lax.bitcast_convert_type(bits & mask, dtype)


@narrowed_opaquely.defjvp
def _narrowed_opaquely_jvp(dtype, primals, tangents):
  (v,), (t,) = primals, tangents
  return narrowed_opaquely(v, dtype), t.astype(dtype)


def kept_apart_on_tpu(y: jax.Array) -> jax.Array:
  """A 16-bit output residual behind an `optimization_barrier` on XLA:TPU.

  Measured, not traced: in bfloat16 the TPU v5e step keeps less with the kept
  ``y`` behind a barrier after Dense and Conv layers (RESULTS.md, "TPU,
  bfloat16, after a norm": pre-ln 88.9 MiB with it, 136.7 without; mlp-3d 64.2
  and 80.4; mixer 44.8 and 52.8). After a norm it costs an array per layer:
  without it XLA:TPU fuses the activation into the convolutions that read it
  and recomputes it there, as it does jax.nn's (cnn-bn 129.3 MiB with it, 97.3
  without, jax.nn's 81.3); the networks after
  Dense layers decide. On XLA:GPU the same barrier made every ``y`` a kernel
  output that nothing could fuse (7 % more kernel traffic than jax.nn in the
  CNN), and XLA:CPU expands barriers away, so only the TPU gets it. Wider
  outputs are returned as they are.
  """
  if jnp.dtype(y.dtype).itemsize > 2:
    return y
  return jax.lax.platform_dependent(y, tpu=jax.lax.optimization_barrier, default=lambda v: v)


def forward_output_read_on_tpu(x: jax.Array, from_input: Callable[[jax.Array], jax.Array],
                               from_output: Callable[[jax.Array], jax.Array]) -> jax.Array:
  """The slope ``from_input(x)``, or on XLA:TPU for a 16-bit ``x`` ``from_output(x)``.

  ``from_output`` recomputes the forward pass's float32 output from the kept
  ``x`` by the same operations, which XLA merges with the forward's, and reads
  the slope off it (``y + a``; CELU's ``y / a + 1``). With ``residual="input"``
  in bfloat16, XLA:TPU wrote jelu's output in a fusion of its own and kept it
  for the next convolution's or matmul's weight gradient when only those two
  read it; read by the backward pass as well, it is fused into all three and
  recomputed there from the convolution output a norm keeps anyway (RESULTS.md,
  "TPU, bfloat16, residual="input"": cnn-bn 145.3 -> 97.3 MiB, jax.nn's 81.3;
  mlp-3d 129.4 -> 81.4 and pre-ln 154.0 -> 106.0, jax.nn's). In mlp-2d, where
  the default is the choice (64.2), it costs more (128.4 -> 208.4): the
  matmul's fusion writes the float32 ``y`` beside the 16-bit one and the step
  keeps it; so does a classifier head's mean pool with the last activation's
  (cnn-bn with the head 113.4 MiB; the default 129.4, jax.nn's 81.3; reading
  the rounded 16-bit ``y`` instead would need 97.4 there but 137.7 in pre-ln,
  and lose precision). What was left above jax.nn's there was the kernel's cost: with
  XLA's own ``expm1`` times alpha as the negative branch, ``"input"`` needed jax.nn's
  memory in every network, the head's too. These figures are the kernel's before the
  current one (63 operations); ``make bench-backends-tpu`` measures them anew.
  The slope is jax.nn's arithmetic, ``alpha * (expm1(x) + 1)``,
  from a float32 ``y``, where the general form takes ``alpha * exp(x)``:
  both within one rounding of the 16-bit ``dx``, but below 2**-24 the first
  only within a float32 ulp of alpha. Float32 keeps ``from_input`` (its
  "input" steps already needed the default's memory). XLA:CPU and XLA:GPU
  keep ``from_input``, so their programs are unchanged.
  """
  if jnp.dtype(x.dtype).itemsize > 2:
    return from_input(x)
  return jax.lax.platform_dependent(x, tpu=from_output, default=from_input)


def written_once_on_cpu(dx: jax.Array) -> jax.Array:
  """The backward pass's ``dx`` divided by an opaque 1 on XLA:CPU, so that XLA writes it once.

  ``dx`` is cheap (``g`` times the slope), so XLA:CPU computes it again in each
  fusion that reads it. A norm's backward pass reads it three times: YNNPACK
  library reductions of ``dx`` and of ``dx`` times a per-channel factor, which
  read operands written out, and the input gradient. Before a classifier's
  head XLA:CPU wrote both reductions' operands from the last ``y`` (or the
  slope's ``exp``), which stayed live for the third: one array more than
  jax.nn's and ReLU's steps (RESULTS.md, "Other widths and depths", and the
  classifier-head table; float32 cnn-bn with the head 416.8 MiB, jax.nn's
  384.8; ``residual="input"`` 352.8, ReLU's 320.8). In bfloat16 the reduction
  of ``dx`` read a float32 copy of it written for the purpose (cnn-bn without
  the head: either residual 321.7, ReLU's 289.7). XLA does not duplicate a
  division (an expensive operation to it) into several consumers: divided,
  ``dx`` is written once, ``y`` dies as it is, and all three read it (416.8 ->
  384.8 and 352.8 -> 320.8; in bfloat16 the default 305.7 and ``"input"``
  289.7, where XLA writes the quotient widened to float32, the same values,
  for the norm). The divisor is
  a select between two ones XLA cannot see (`hidden_from_simplifier`): by one
  scalar XLA's simplifier multiplies by its reciprocal instead, which it
  recomputes in each consumer again, and needed more after Dense layers
  (mlp-3d 216 -> 280 MiB). ``d / 1`` is ``d`` bit for bit, NaN, infinities,
  signed zeros and subnormals included. Step times with and without it are
  within this machine's noise (``benchmarks/cpu_measures.py``). XLA:GPU and
  XLA:TPU get ``dx`` as it is: their programs are unchanged.
  """
  def cpu(d):
    one, also_one = hidden_from_simplifier((jnp.ones((), d.dtype), jnp.ones((), d.dtype)))
    return d / jnp.where(d > 0, one, also_one)

  return jax.lax.platform_dependent(dx, cpu=cpu, default=lambda d: d)


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


def libdevice_expm1_on_gpu(t: jax.Array, general: Callable[[jax.Array], jax.Array]) -> jax.Array:
  """``general(t)``, or on XLA:GPU with CUDA XLA's own ``expm1(t)``: the alpha gradient's expm1.

  With alpha differentiated the backward pass reduces ``g * expm1(min(x, 0))`` to alpha's
  shape. XLA:GPU fuses a summand into the reduction that reads it only where its cost model
  finds that faster than writing the summand out; with `jelu._expm1.expm1_neg`'s polynomial
  (written because XLA:CPU's expm1 is up to ~5 ulp off), its select and ``exp``, it does not:
  the fusion that computes ``dx`` writes the float32 summand beside it for a reduction of its
  own. In the bfloat16 step of ``benchmarks/mixed_precision.py`` compiled for the described
  H100 (RESULTS.md, "A learnable alpha in a bfloat16 step", "On the GPU", the row 4 x 512,
  batch 1024) a scalar learnable ELU needed 1.062x jax.nn's memory, and its kernels moved
  1.169x jax.nn's bytes. XLA's ``expm1`` lowers on XLA:GPU to CUDA's libdevice
  ``__nv_expm1f`` (within 1 ulp, CUDA's documented bound; the polynomial is within 0.96),
  whose summand the cost model fuses: 1.000x and 1.000x. ROCm, not measured, and XLA:CPU and
  XLA:TPU keep the polynomial; their programs are unchanged.
  """
  return jax.lax.platform_dependent(t, cuda=jnp.expm1, default=general)
