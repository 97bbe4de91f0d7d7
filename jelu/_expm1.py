"""expm1 for non-positive float32 input, and ``a * expm1`` and ``lambda * x`` rounded once.

XLA's CPU expm1 is up to ~5 ulp off in float32. ``expm1_neg`` (the alpha
gradient's) evaluates, for -ln 2 < t <= 0, ``expm1(t) = t + t**2 * P(t)``, where
``P`` is a degree-6 polynomial fitted (weighted least squares on the relative
error of expm1, in float64) to ``(expm1(t) - t) / t**2``; the leading ``t`` is
exact, so rounding touches only the small correction. Below -ln 2,
``exp(t) <= 1/2`` and ``exp(t) - 1`` loses nothing to cancellation.

``scaled_expm1_neg`` (the activations' negative branch) has to do better: with
``a != 1`` the product ``a * expm1(t)`` would add a second rounding. It carries
the value as an unevaluated float32 pair ``hi + lo``, good to about 0.1 ulp, and
rounds once, at the end:

- ``t = k ln 2 + r`` with ``|r| <= ln 2 / 2``; ``ln 2`` is split Cody-Waite
  style, so that ``t - k * _LN2_HI`` is exact for the ``k`` that occur.
- ``expm1(r) = r + r**2 / 2 + r**3 Q(r)``, with ``r**2`` exact but for 2**-11 of
  it and ``Q`` a degree-4 polynomial (its error is under 0.02 ulp).
- ``expm1(t) = (2**k - 1) + 2**k expm1(r)``, both exact float32 scalings.
- the product with ``a`` is exact too, and so is CELU's ``t = x / a`` up to
  2**-35 (its remainder ``x - a * t`` is kept).

XLA has no fused multiply-add to ask for (``a * b - fl(a * b)`` compiles to 0;
XLA:CPU's LLVM contracts some products into multiply-adds, but not on request),
so exact products are Dekker's: each factor is split into two 12-bit halves by
masking its low bits (which, unlike Veltkamp's ``4097 * x``, cannot overflow
for a huge alpha), and the product of two halves is exact. XLA does fold
constants across a two-sum (``(s - 1) + 1`` becomes ``s``), so no two-sum here
has a constant operand. All of it is plain jnp, so jit, vmap and every
differentiation transform see through it. The compiled ELU is 63 HLO
operations per element (7 of them free bitcasts), where one-rounding-short
``a * expm1`` by polynomial or ``exp`` was 24 and an ``exp``.

``scaled_linear`` does the same for SELU's ``lambda * x``, and
``scaled_significand`` for positive ``x`` with fewer operations (XLA:TPU's);
``celu_by_reciprocal`` is CELU with its quotient taken by ``1 / a`` instead of
a division (XLA:TPU's).

Measured over a dense grid of [-30, 0] (log-spaced down to 1e-10), float32:
``expm1_neg`` <= 0.96 ulp; ELU, SELU and CELU <= 0.57 ulp at 41 alphas
log-spaced over [0.01, 100]; see tests/test_accuracy.py for every bound.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

_LN2 = 0.6931471805599453
# P(t) ~ (expm1(t) - t) / t**2 on [-ln 2, 0]; lowest order first.
_P = (
    0.4999999993973348,
    0.16666664699564354,
    0.04166643806151829,
    0.008332036216661965,
    0.001384868040574239,
    0.00019141510504959834,
    1.8267369288696126e-05,
)
# ln 2 = _LN2_HI + _LN2_LO, _LN2_HI with 19 significant bits: k * _LN2_HI is
# exact for |k| < 32.
_LN2_HI = 0.6931476593017578
_LN2_LO = -4.787418106388941e-07
_INV_LN2 = 1.4426950216293335
# Q(r) ~ (expm1(r) - r - r**2 / 2) / r**3 on |r| <= 0.357, float32 values of a
# minimax fit (relative error of expm1 under 0.02 ulp); lowest order first.
_Q = (
    0.1666666567325592,
    0.041666459292173386,
    0.00833342969417572,
    0.0013935848837718368,
    0.0001982312969630584,
)
# Below this t, exp(t) < 2**-28 and a * expm1(t) rounds to -a: clamping there
# keeps 2**k normal and the arithmetic finite for t = -inf.
_T_MIN = -20.0
# Below this |t| (and |x|) the low halves of the pairs would be flushed to zero.
_TINY = 2.0**-90


def _horner(coeffs: tuple[float, ...], t: jax.Array) -> jax.Array:
  p = jnp.asarray(coeffs[-1], t.dtype)
  for c in coeffs[-2::-1]:
    p = p * t + c
  return p


def expm1_neg(t: jax.Array) -> jax.Array:
  """``expm1(t)`` for ``t <= 0`` (callers clamp); float32 by polynomial, others by XLA."""
  if t.dtype != jnp.float32:
    return jnp.expm1(t)
  return jnp.where(t > -_LN2, t + (t * t) * _horner(_P, t), jnp.exp(t) - 1)


def _split(v: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``v = hi + lo`` exactly, ``hi`` with 12 significant bits, ``|lo| < 2**-11 |v|``.

  Masking the low bits, unlike Veltkamp's ``4097 * v``, cannot overflow. Two
  ``hi`` multiply exactly, and ``lo`` carries the rest.
  """
  bits = jax.lax.bitcast_convert_type(v, jnp.uint32)
  hi = jax.lax.bitcast_convert_type(bits & np.uint32(0xFFFFF000), jnp.float32)
  return hi, v - hi


def _pow2(k: jax.Array) -> jax.Array:
  """``2**k`` for integral float32 ``k`` in the normal range, exactly."""
  bits = (k.astype(jnp.int32) + 127) << 23
  return jax.lax.bitcast_convert_type(bits, jnp.float32)


def _scaled_expm1_pair(t_hi: jax.Array, t_lo: jax.Array | None, a: jax.Array,
                       a_hi: jax.Array, a_lo: jax.Array) -> jax.Array:
  """``a * expm1(t_hi + t_lo)`` rounded once, for ``t_hi`` in about [_T_MIN, 0].

  ``t_lo`` (None for 0) is a small correction to ``t_hi``; ``a = a_hi + a_lo``
  as `_split` gives them, but for SELU's rounding error added to ``a_lo``.
  """
  # t = k ln 2 + r + r_lo
  k = jnp.round(t_hi * _INV_LN2)
  r = t_hi - k * _LN2_HI  # exact
  r_lo = k * -_LN2_LO if t_lo is None else t_lo - k * _LN2_LO
  # expm1(r + r_lo) = r + half + rest: half = r**2 / 2 exactly but for
  # sq_lo / 2 (2**-11 of it), rest about 2% of the whole.
  r_hi, r_rest = _split(r)
  sq = r_hi * r_hi
  sq_lo = r_rest * (r + r_hi)
  half = 0.5 * sq
  cubic = ((r * r) * r) * _horner(_Q, r)
  # r_lo's share is r_lo * exp(r), and exp(r) = 1 + r + half + cubic to O(u).
  rest = (0.5 * sq_lo + cubic) + (r_lo + r_lo * ((r + half) + cubic))
  # expm1(t) = (2**k - 1) + 2**k expm1(r) = s_hi + s_lo, s_hi with 12 bits.
  # 2**k - 1 is exact down to k = -24; below, it rounds to -1 and misses 2**k
  # (not recovered by a two-sum: XLA folds ``(scale - 1) + 1`` to ``scale``).
  scale = _pow2(k)
  b, b_err = scale - 1, jnp.where(k < -24, scale, 0.0)
  s_hi, _ = _split(b + scale * (r + half))
  # b - s_hi is exact (Sterbenz), and so is adding scale * r wherever the sum
  # is not below 2**-11 of the whole, so only terms that small are rounded.
  s_lo = (((b - s_hi) + scale * r) + scale * half) + (b_err + scale * rest)
  # a * s_hi exactly in two 12-bit products; a * s_lo is 2**-11 of the whole.
  return a_hi * s_hi + ((a_lo * s_hi) + a * s_lo)


def scaled_expm1_neg(t: jax.Array, a: jax.Array, *, divide: bool = False,
                     a_exact: float | None = None) -> jax.Array:
  """``a * expm1(t)``, or ``a * expm1(t / a)`` with ``divide``, for ``t <= 0``, rounded once.

  Args:
    t: non-positive input (NaN propagates; -inf gives ``-a``).
    a: the scale, >= 0 (> 0 with ``divide``), broadcastable to ``t``.
    divide: take ``expm1(t / a)``, with the quotient's rounding error kept (CELU).
    a_exact: ``a``'s value before rounding to ``t``'s dtype, where the host
      knows it (SELU's lambda * alpha); its rounding error is put back.

  Returns:
    The value, within about 0.6 ulp in float32; other dtypes use XLA's expm1.
  """
  if t.dtype != jnp.float32:
    return a * jnp.expm1(t / a if divide else t)
  a_hi, a_lo = _split(a)
  if a_exact is not None:
    a_lo = a_lo + (a_exact - float(np.float32(a_exact)))
  if divide:
    # t / a = t_hi + t_lo, the remainder t - a * t_hi taken (within 2**-35 of
    # t) into t_lo. (Not t * (1 / a): 1 / a is flushed to 0 for a > 2**126.)
    q = t / a
    t_hi = jnp.maximum(q, _T_MIN)
    q_hi, q_lo = _split(t_hi)
    rem = (((t - q_hi * a_hi) - q_hi * a_lo) - q_lo * a_hi) - q_lo * a_lo
    t_lo = jnp.where(q > _T_MIN, rem / a, 0.0)
  else:
    t_hi, t_lo = jnp.maximum(t, _T_MIN), None
  value = _scaled_expm1_pair(t_hi, t_lo, a, a_hi, a_lo)
  # Near 0 the low parts fall below float32's normal range, which XLA:CPU
  # flushes to zero; there expm1(u) = u to 2**-91, and a * u rounds once
  # (SELU's twice: a is lambda * alpha rounded, so within 0.75 ulp).
  if divide:
    return jnp.where(q > -_TINY, t, value)
  return jnp.where(t > -_TINY, a * t, value)


def celu_by_reciprocal(x: jax.Array, a: jax.Array) -> jax.Array:
  """CELU of any ``x``, ``a * expm1(x / a)`` for ``x <= 0`` rounded once, by ``1 / a``.

  `scaled_expm1_neg` with ``divide`` takes the quotient ``x / a`` by a division
  and keeps its remainder. Here the quotient is ``x * (1 / a)``, within about
  1.5 ulp of ``x / a``, and its remainder is computed the same way, so
  ``t_hi + t_lo`` is as close to ``x / a`` and the value is rounded once, within
  the same bound: for ``a = 1`` and powers of two the same bits, for other
  ``a`` the same but near ties (tests/test_accuracy.py). Below ``_T_MIN * a``
  the value rounds to ``-a``: there the quotient is clamped at ``_T_MIN`` and
  the remainder's share at -1, two maxima where the division's path selects on
  its quotient. The small-input value is ``x`` itself,
  as is the positive branch's, so one select gives all of CELU: ``x`` where
  ``x > -2**-90 * a``, positive ``x`` among them. NaN propagates, and a NaN
  ``a`` (`_saturation`'s mark of an alpha that is not > 0) makes every value
  NaN. Float32 ``x`` and ``a`` only (jelu's compute dtype for every float type
  but float64, which keeps the general form everywhere). `jelu._xla.smaller_on_tpu`
  says why XLA:TPU gets this.
  """
  # 1 / a is flushed to 0 for a > 2**126: there the quotient is taken with
  # x and a scaled by 2**-64 (exact for every x whose quotient is not tiny).
  s = jnp.where(a > 2.0**126, 2.0**-64, 1.0)
  a_s = a * s
  inv = 1 / a_s
  t = jnp.minimum(x, 0) * s
  t_hi = jnp.maximum(t * inv, _T_MIN)
  q_hi, q_lo = _split(t_hi)
  a_s_hi, a_s_lo = _split(a_s)
  rem = (((t - q_hi * a_s_hi) - q_hi * a_s_lo) - q_lo * a_s_hi) - q_lo * a_s_lo
  a_hi, a_lo = _split(a)
  # The remainder is exact for any clamped t_hi, so t_hi + t_lo is x / a but
  # where x / a < _T_MIN, whose value rounds to -a from anywhere in [-21, -20]:
  # clamping the share at -1 keeps the pair there (-inf x included).
  value = _scaled_expm1_pair(t_hi, jnp.maximum(rem * inv, -1.0), a, a_hi, a_lo)
  # x / a > -2**-90 compared as x > -2**-90 * a: for x <= 0 the same inputs
  # but near that bound, where both sides are x. A predicate of x alone keeps
  # less on XLA:TPU (`jelu._xla.smaller_on_tpu`). At most -2**-126, so that
  # -0.0 is x itself for the smallest alphas too.
  small = jnp.minimum(-_TINY * a, -np.finfo(np.float32).tiny)
  return jnp.where(x > small, x, value)


def _halves(scale: float) -> tuple[float, float]:
  """``scale = s_hi + s_mid`` to float32's precision, ``s_hi`` with 12 significant bits."""
  s32 = np.float32(scale)
  s_hi = float((s32.view(np.uint32) & np.uint32(0xFFFFF000)).view(np.float32))
  return s_hi, scale - s_hi


def scaled_linear(x: jax.Array, scale: float) -> jax.Array:
  """``scale * x`` for a host constant ``scale`` (SELU's lambda), rounded once.

  ``float32(scale) * x`` would round twice (lambda itself is 0.29 ulp off in
  float32), up to 1.05 ulp in all. Here ``x = x_hi + x_lo`` and ``scale =
  s_hi + s_mid`` in 12-bit halves: ``x_hi * s_hi`` is exact and the other
  products are 2**-11 of the whole, so their roundings stay below 2**-34.

  Its care for tiny inputs makes SELU's kernel 76 operations; compiled for a TPU
  v5e, kernels of 73 were fused into the matmul that reads them and of 74 were
  not (``benchmarks/tpu_selu_size.py``), so XLA:TPU gets `scaled_significand`.
  """
  if x.dtype != jnp.float32:
    return scale * x
  s_hi, s_mid = _halves(scale)
  # x_lo would fall below the normal range, which XLA:CPU flushes to zero, for
  # |x| < 2**-103: tiny x are scaled up by 2**64 and back (exact). min:
  # splitting inf would give inf - inf; scale * max_float is inf anyway.
  tiny = jnp.abs(x) < _TINY
  x_hi, x_lo = _split(jnp.minimum(jnp.where(tiny, x * 2.0**64, x), np.finfo(np.float32).max))
  # hi - (-lo), not hi + lo: the same bits, but -0.0 keeps its sign.
  value = x_hi * s_hi - (x_lo * -scale - x_hi * s_mid)
  return jnp.where(tiny, value * 2.0**-64, value)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def scaled_significand(x: jax.Array, scale: float) -> jax.Array:
  """`scaled_linear` for ``x > 0``, from ``x``'s significand: a smaller kernel, no branch.

  ``x = m * 2**e`` with ``m`` in [1, 2) read off its bits; ``scale * m`` is
  taken by `scaled_linear`'s split, which neither underflows nor overflows
  there, and times ``2**e`` is exact wherever the result is normal, so the
  value is `scaled_linear`'s rounded once: the same bits for every positive
  normal or infinite float32 in IEEE arithmetic (and on XLA:CPU,
  tests/test_values.py). A positive subnormal ``x`` gives 0, as it does where
  subnormals are flushed; zero, negative and NaN ``x`` give no meaningful
  value, so callers select this only where ``x > 0``. 11 operations where
  `scaled_linear` takes 15: SELU's kernel becomes 72, which XLA:TPU fuses into
  the matmul that reads it.
  """
  if x.dtype != jnp.float32:
    return scale * x
  s_hi, s_mid = _halves(scale)
  bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
  m = jax.lax.bitcast_convert_type((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000),
                                   jnp.float32)
  power = jax.lax.bitcast_convert_type(bits & np.uint32(0x7F800000), jnp.float32)  # 2**e
  m_hi, m_lo = _split(m)
  # The small products as a sum, not as scaled_linear's difference: the same
  # value, but XLA:CPU lets LLVM fuse one product of either into a multiply-add,
  # and it fuses m_lo's in this sum as it does x_lo's in that difference, so the
  # two give the same bits there too (written as the difference, it fuses the
  # other's, and about 1 in 8800 values differ in their last bit).
  return (m_hi * s_hi - (m_lo * -scale + m_hi * -s_mid)) * power


@scaled_significand.defjvp
def _scaled_significand_jvp(scale, primals, tangents):
  # The bit operations carry no tangent; the function is linear in x.
  (x,), (t,) = primals, tangents
  return scaled_significand(x, scale), scale * t
