"""AlphaDropout: the dropout that keeps SELU's self-normalising fixed point."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jelu._activations import SELU_ALPHA, SELU_SCALE
from jelu._checks import check_array, check_key, check_rate, normalize_axes

# SELU's saturation value, -lambda * alpha: what a dropped unit is set to.
_SATURATION = -SELU_SCALE * SELU_ALPHA


def _affine(rate: float) -> tuple[float, float]:
  """(a, b) such that a * dropped(x) + b has mean 0 and variance 1 for x ~ N(0, 1)."""
  q = 1.0 - rate
  a = (q + _SATURATION**2 * q * rate) ** -0.5
  return a, -a * rate * _SATURATION


@functools.partial(jax.jit, static_argnames=("rate", "broadcast_dims"))
def _alpha_dropout(x: jax.Array, key: jax.Array, rate: float,
                   broadcast_dims: tuple[int, ...]) -> jax.Array:
  a, b = _affine(rate)
  mask_shape = tuple(1 if i in broadcast_dims else n for i, n in enumerate(x.shape))
  keep = jnp.broadcast_to(jax.random.bernoulli(key, 1.0 - rate, mask_shape), x.shape)
  # 16-bit inputs are computed in float32 and rounded once; wider ones in their own dtype.
  compute_dtype = jnp.promote_types(x.dtype, jnp.float32)
  return (a * jnp.where(keep, x.astype(compute_dtype), _SATURATION) + b).astype(x.dtype)


def alpha_dropout(x: ArrayLike, rate: float, *, key: jax.Array,
                  broadcast_dims: Sequence[int] = ()) -> jax.Array:
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

  ``rate=1`` drops every unit: the output is zeros (the limit of
  :math:`a\alpha' + b` as :math:`q \to 0`), as with torch's ``alpha_dropout``
  and flax's ``Dropout``. No input value reaches the output, so a NaN or inf
  in ``x`` gives 0 there too, as a dropped unit does at any rate (torch
  multiplies the input by 0, which gives NaN for those).

  Args:
    x: floating-point input array.
    rate: the drop probability, a python float in ``[0, 1]``; 0 is the identity.
    key: a JAX PRNG key (``jax.random.key`` or a raw ``uint32`` key).
    broadcast_dims: axes of ``x`` along which the mask is shared (as in
      :class:`flax.linen.Dropout`): with ``(1,)`` on a ``(batch, length,
      features)`` input, each sequence drops the same features at every step.

  Returns:
    An array of ``x``'s shape and dtype.

  Raises:
    TypeError: for non-float ``x``, a non-number ``rate``, a ``key`` that is not
      a PRNG key, or ``broadcast_dims`` that are not ints.
    ValueError: for ``rate`` outside ``[0, 1]`` or an axis in
      ``broadcast_dims`` that ``x`` does not have.

  Example:
    >>> import jax, jax.numpy as jnp, jelu
    >>> x = jax.random.normal(jax.random.key(0), (100_000,))
    >>> y = jelu.alpha_dropout(x, 0.1, key=jax.random.key(1))
    >>> print(f"{abs(y.mean()):.2f} {y.std():.2f}")
    0.00 1.00
    >>> seqs = jnp.ones((2, 5, 3))  # one mask per sequence, shared over its 5 steps
    >>> z = jelu.alpha_dropout(seqs, 0.5, key=jax.random.key(2), broadcast_dims=(1,))
    >>> bool((z == z[:, :1]).all())
    True

  References:
    Klambauer, Unterthiner, Mayr and Hochreiter, "Self-Normalizing Neural
    Networks", NeurIPS 2017, section 3 ("New Dropout Technique").
    https://arxiv.org/abs/1706.02515
  """
  x = check_array("alpha_dropout", x)
  check_rate("alpha_dropout", rate)
  check_key("alpha_dropout", key)
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"alpha_dropout: x must be floating point, got {x.dtype}.")
  dims = normalize_axes("alpha_dropout", broadcast_dims, x.ndim, arg="broadcast_dims")
  if rate == 0.0:
    return x
  if rate == 1.0:
    return jnp.zeros_like(x)
  return _alpha_dropout(x, key, rate=float(rate), broadcast_dims=dims)
