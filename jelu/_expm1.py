"""expm1 for non-positive float32 input within 1 ulp, and alpha * expm1 built on it.

XLA's CPU expm1 is up to ~5 ulp off in float32. Here, for -ln 2 < t <= 0,
``expm1(t) = t + t**2 * P(t)``, where ``P`` is a degree-6 polynomial fitted
(weighted least squares on the relative error of expm1, in float64) to
``(expm1(t) - t) / t**2``; the leading ``t`` is exact, so rounding touches only
the small correction. Below -ln 2, ``exp(t) <= 1/2`` and ``exp(t) - 1`` loses
nothing to cancellation. Plain jnp throughout, so jit, vmap and every
differentiation transform see through it; nothing takes ``log(exp(t))``, which
XLA's simplifier would rewrite to ``t``.

Measured over a dense grid of [-30, 0] (log-spaced down to 1e-10), float32:
``expm1_neg`` <= 0.96 ulp; ELU and CELU at alpha = 1 <= 0.88 ulp; see
tests/test_accuracy.py for every bound.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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


def _p(t: jax.Array) -> jax.Array:
  p = jnp.asarray(_P[-1], t.dtype)
  for c in _P[-2::-1]:
    p = p * t + c
  return p


def expm1_neg(t: jax.Array) -> jax.Array:
  """``expm1(t)`` for ``t <= 0`` (callers clamp); float32 by polynomial, others by XLA."""
  if t.dtype != jnp.float32:
    return jnp.expm1(t)
  return jnp.where(t > -_LN2, t + (t * t) * _p(t), jnp.exp(t) - 1)


def scaled_expm1_neg(t: jax.Array, a: jax.Array, lead: jax.Array | None = None,
                     excess: jax.Array | None = None) -> jax.Array:
  """``a * expm1(t)`` for ``t <= 0``, rounded fewer times than the product of the two.

  Below -ln 2 it is ``a * exp(t) - a``: one rounding fewer than
  ``a * (exp(t) - 1)``. Above, an exact leading term keeps most of the value
  out of rounding: ``lead`` is ``a * t`` exactly (CELU has it: ``x``, where
  ``t = x / a``), or, with ``excess = a - 1`` (exact for ``1 <= a <= 2``: SELU's
  1.758), ``lead`` is ``t`` and ``excess * t`` joins the small correction.
  """
  if t.dtype != jnp.float32:
    return a * jnp.expm1(t)
  if lead is None:
    near = a * (t + (t * t) * _p(t))
  elif excess is None:
    near = lead + (lead * t) * _p(t)
  else:
    near = lead + (excess * t + (a * (t * t)) * _p(t))
  return jnp.where(t > -_LN2, near, a * jnp.exp(t) - a)
