"""ELU, SELU and CELU in float32, small enough to run at a GPU's copy speed.

The negative branch of every activation is ``a * expm1(t)`` for ``t <= 0``: ``t = k ln 2 +
r`` with ``|r| <= ln 2 / 2``, ``expm1(r) = r + r**2 P(r)`` with ``P`` a degree-5 fit, and::

    a * expm1(t) = a 2**k (r + r**2 P(r)) - a (1 - 2**k)

where ``a 2**k`` is exact and the offset ``a (1 - 2**k)`` is taken with its rounding
error, so that only the small terms and the last sum are rounded. ``2**k`` comes from the bits of
``k + 2**23 + 127`` shifted into the exponent field: no float-to-integer conversion, which
XLA lowers with saturation and NaN checks. About 30 operations an element, all plain jnp:
jit, vmap and every differentiation transform see through them.

Where XLA contracts a product and a sum into a multiply-add (XLA:CPU on x86-64 with FMA),
ELU's and SELU's values are within 1 ulp of the float64 truth at every alpha measured
(CELU's, whose quotient ``x / a`` is rounded, 1.52); where it does not (XLA:GPU's fusions:
``mul.rn`` and ``add.rn`` in the PTX), within 0.83 ulp at alpha 1 and 1.81 at others (CELU
2.41). docs/accuracy.md has the measurements; tests/test_accuracy.py runs this module's code
on numpy float32, which has no multiply-add, for the second.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# r = t - k ln 2 in one product and one difference: its rounding error, at most half an ulp
# of k ln 2, is scaled by 2**k in the result, below 0.2 ulp of it for every k.
_LN2 = 0.6931471805599453
_INV_LN2 = 1.4426950216293335
# k + _EXPONENT_BIAS is 2**23 + 127 + k exactly; its low 8 bits are 2**k's exponent field.
_EXPONENT_BIAS = 2.0**23 + 127
_BIASED_ZERO = 0x4B00007F  # the bits of _EXPONENT_BIAS
# P(r) ~ (expm1(r) - r) / r**2 on |r| <= ln 2 / 2, float32 coefficients of a least-squares
# fit weighted by |r| (`python -m benchmarks.accuracy --fit`); lowest order first.
_P = (0.5, 0.1666666716337204, 0.04166635125875473, 0.008333288133144379,
      0.0013941118959337473, 0.00019905211229342967)
# The same fit of degree 4 (relative error below 2**-22), for results rounded to 16 bits.
_P_16 = (0.5, 0.16666540503501892, 0.04166635125875473, 0.008366765454411507,
         0.0013941118959337473)
# Below this t, exp(t) < 2**-28 and a * expm1(t) rounds to -a: clamping there keeps 2**k
# normal and the arithmetic finite for t = -inf.
T_MIN = -20.0


def _bits(v):
  return v.view(np.int32) if isinstance(v, np.ndarray) else jax.lax.bitcast_convert_type(
      v, jnp.int32)


def _from_bits(b):
  return b.view(np.float32) if isinstance(b, np.ndarray) else jax.lax.bitcast_convert_type(
      b, jnp.float32)


def scaled_expm1(t, a, *, for_16_bits: bool = False):
  """``a * expm1(t)`` for float32 ``t`` in ``[T_MIN, 0]`` and ``a >= 0``.

  ``for_16_bits``: the value will be rounded to bfloat16 or float16, which hides errors
  of 2**-20: a polynomial of degree 4, and ``offset``'s rounding error left out (4
  operations fewer). ``t`` and ``a`` may be jax arrays or numpy float32 arrays (numpy's
  arithmetic is the GPU's: no multiply-add).
  """
  # The sum rounds t / ln 2 to the integer k: 2**23 + 127 + k, whose ulp is 1.
  bits = _bits(t * _INV_LN2 + _EXPONENT_BIAS)
  two_k = _from_bits(bits << 23)
  # k back from the bits, not as the sum minus _EXPONENT_BIAS, which XLA folds to the
  # rounded product: that is -0 where t is -0, and r must be -0 there.
  k = (bits - _BIASED_ZERO).astype(t.dtype)
  r = t - k * _LN2
  coefficients = _P_16 if for_16_bits else _P
  p = coefficients[-1]
  for c in coefficients[-2::-1]:
    p = p * r + c
  scaled = a * two_k
  offset = a - scaled
  small = scaled * ((r * r) * p)
  # Differences, not sums, so that t = -0 gives -0: x - (+0) keeps x's sign, x + (+0)
  # does not.
  if for_16_bits:
    return scaled * r - (offset - small)
  # Everything below an ulp of the result, negated: ((a - offset) - scaled) is minus
  # offset's rounding error, exactly (a >= scaled >= 0).
  return (scaled * r - (((a - offset) - scaled) - small)) - offset

def expm1_neg(t: jax.Array) -> jax.Array:
  """``expm1(t)`` for ``t <= 0``: float32 by `scaled_expm1`, others by XLA's ``expm1``.

  Below ``T_MIN`` the value is -1 (``exp(t) < 2**-28``), so that ``e + 1`` is 0 there
  rather than ``exp(T_MIN)``: CELU's alpha gradient multiplies it by ``t``.
  """
  if t.dtype != jnp.float32:
    return jnp.expm1(t)
  return jnp.where(t > T_MIN, scaled_expm1(jnp.maximum(t, T_MIN), 1.0), -1.0)


def elu_family_float32(x, a, kind: str, scale: float, *, for_16_bits: bool = False):
  """ELU, SELU or CELU of float32 ``x`` with saturation ``a``, by one select on ``x > 0``.

  ``scale`` is the positive branch's slope (SELU's lambda, else 1). The negative branch
  gives ``-0`` for ``-0``, ``a * x`` for tiny ``x`` and NaN for NaN, so no other select is
  needed, and its derivative at 0 is the negative branch's, as jax.nn's ELU and SELU
  (``jax.hessian`` differentiates this primal). ``x`` and ``a`` are jax arrays, or numpy
  float32 arrays for the GPU's arithmetic (`scaled_expm1`).
  """
  xp = np if isinstance(x, np.ndarray) else jnp
  positive = x > 0
  t = xp.where(positive, np.float32(0), x)
  t = xp.maximum(t / a if kind == "celu" else t, np.float32(T_MIN))
  negative = scaled_expm1(t, a, for_16_bits=for_16_bits)
  if scale == 1.0:
    return xp.where(positive, x, negative)
  if for_16_bits:
    return xp.where(positive, scale * x, negative)
  # scale in two float32 parts: where XLA contracts the first product into a multiply-add
  # (XLA:CPU) the value is rounded once; float32(lambda) * x alone is off by up to 1.06
  # ulp. The minimum keeps scale * inf from being inf - inf (the low part may be < 0).
  high = float(np.float32(scale))
  low = xp.minimum(x, np.finfo(np.float32).max) * (scale - high)
  return xp.where(positive, x * high + low, negative)
