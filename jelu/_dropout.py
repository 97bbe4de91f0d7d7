"""AlphaDropout: the dropout that keeps SELU's self-normalising fixed point."""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jelu._activations import SELU_ALPHA, SELU_SCALE, _check_x, _compute_dtype

# SELU's saturation value, -lambda * alpha: what a dropped unit is set to.
_SATURATION = -SELU_SCALE * SELU_ALPHA


def _affine(rate: float) -> tuple[float, float]:
  """(a, b) such that a * dropped(x) + b has mean 0 and variance 1 for x ~ N(0, 1)."""
  q = 1.0 - rate
  a = (q + _SATURATION**2 * q * rate) ** -0.5
  return a, -a * rate * _SATURATION


@functools.partial(jax.jit, static_argnames="rate")
def _alpha_dropout(x: jax.Array, key: jax.Array, rate: float) -> jax.Array:
  a, b = _affine(rate)
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  ct = _compute_dtype(x.dtype)
  return (a * jnp.where(keep, x.astype(ct), _SATURATION) + b).astype(x.dtype)


def _check_rate(rate: float) -> None:
  if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
    raise TypeError(f"alpha_dropout: rate must be a python float, got {type(rate).__name__}.")
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"alpha_dropout: rate must be in [0, 1), got {rate}.")


def alpha_dropout(x: ArrayLike, rate: float, *, key: jax.Array) -> jax.Array:
  r"""AlphaDropout: drops units to SELU's saturation value and restores mean and variance.

  Each unit is kept with probability :math:`q = 1 - \mathrm{rate}`; a dropped
  unit is set to :math:`\alpha' = -\lambda\alpha` (SELU's value at
  :math:`-\infty`), and then

  .. math::
    \mathrm{out} = a \cdot \mathrm{dropped}(x) + b, \quad
    a = \left(q + \alpha'^2 q (1 - q)\right)^{-1/2}, \quad
    b = -a (1 - q) \alpha',

  so that input with mean 0 and variance 1 keeps mean 0 and variance 1. Use it
  with :func:`jelu.selu` and LeCun-normal weights in place of ordinary dropout.
  16-bit inputs are computed in float32 and rounded once.

  Args:
    x: floating-point input array.
    rate: the drop probability, a python float in ``[0, 1)``; 0 is the identity.
    key: a JAX PRNG key.

  Returns:
    An array of ``x``'s shape and dtype.

  Raises:
    TypeError: for non-float ``x`` or a non-number ``rate``.
    ValueError: for ``rate`` outside ``[0, 1)``.

  Example:
    >>> import jax, jax.numpy as jnp, jelu
    >>> x = jax.random.normal(jax.random.key(0), (100_000,))
    >>> y = jelu.alpha_dropout(x, 0.1, key=jax.random.key(1))
    >>> print(f"{abs(y.mean()):.2f} {y.std():.2f}")
    0.00 1.00

  References:
    Klambauer, Unterthiner, Mayr and Hochreiter, "Self-Normalizing Neural
    Networks", NeurIPS 2017, section 3 ("New Dropout Technique").
    https://arxiv.org/abs/1706.02515
  """
  _check_x("alpha_dropout", x)
  _check_rate(rate)
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"alpha_dropout: x must be floating point, got {x.dtype}.")
  if rate == 0.0:
    return x
  return _alpha_dropout(x, key, rate=float(rate))
