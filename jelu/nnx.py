"""Flax nnx modules for jelu's activations and AlphaDropout.

Example:
  >>> import jax.numpy as jnp
  >>> from flax import nnx
  >>> from jelu import nnx as jnnx
  >>> rngs = nnx.Rngs(0)
  >>> model = nnx.Sequential(
  ...     nnx.Linear(3, 16, kernel_init=nnx.initializers.lecun_normal(), rngs=rngs),
  ...     jnnx.SELU(),
  ...     jnnx.AlphaDropout(0.1, rngs=rngs),
  ...     nnx.Linear(16, 1, rngs=rngs))
  >>> model.eval()  # AlphaDropout becomes the identity
  >>> model(jnp.ones((4, 3))).shape
  (4, 1)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jelu._activations import celu, elu, selu
from jelu._dropout import _check_rate, alpha_dropout


class ELU(nnx.Module):
  """Exponential linear unit, :func:`jelu.elu` as a layer, optionally with a learnable alpha.

  Args:
    alpha: the saturation magnitude, or the learnable one's initial value
      (default 1.0), finite and ``>= 0``.
    learnable: if True, ``self.alpha`` is an ``nnx.Param`` that training moves
      (keep it ``>= 0``: a traced alpha cannot be checked).
    param_dtype: the learnable alpha's dtype (default float32).
  """

  def __init__(self, alpha: float = 1.0, *, learnable: bool = False,
               param_dtype: jnp.dtype = jnp.float32):
    self.alpha = nnx.Param(jnp.asarray(alpha, param_dtype)) if learnable else alpha

  def __call__(self, x: jax.Array) -> jax.Array:
    alpha = self.alpha[...] if isinstance(self.alpha, nnx.Param) else self.alpha
    return elu(x, alpha)


class SELU(nnx.Module):
  """Scaled exponential linear unit, :func:`jelu.selu` as a layer."""

  def __call__(self, x: jax.Array) -> jax.Array:
    return selu(x)


class CELU(nnx.Module):
  """Continuously-differentiable ELU, :func:`jelu.celu` as a layer.

  Args:
    alpha: the saturation magnitude and input scale (default 1.0), ``> 0``.
  """

  def __init__(self, alpha: float = 1.0):
    self.alpha = alpha

  def __call__(self, x: jax.Array) -> jax.Array:
    return celu(x, self.alpha)


class AlphaDropout(nnx.Module):
  """AlphaDropout (:func:`jelu.alpha_dropout`) with :class:`flax.nnx.Dropout`'s conventions.

  ``.eval()`` on it or on any module holding it sets ``deterministic=True`` (the
  identity); ``.train()`` sets it back.

  Args:
    rate: the drop probability, in ``[0, 1)``.
    deterministic: if True, the identity (default False).
    rng_collection: the stream the mask's keys come from (default "dropout").
    rngs: an ``nnx.Rngs`` (its ``rng_collection`` stream is forked), an
      ``nnx.RngStream``, or None to pass keys at call time.
  """

  def __init__(self, rate: float, *, deterministic: bool = False,
               rng_collection: str = "dropout",
               rngs: nnx.Rngs | nnx.RngStream | None = None):
    _check_rate(rate)
    self.rate = rate
    self.deterministic = deterministic
    self.rng_collection = rng_collection
    if isinstance(rngs, nnx.Rngs):
      rngs = rngs[rng_collection].fork()
    elif isinstance(rngs, nnx.RngStream):
      rngs = rngs.fork()
    self.rngs = nnx.data(rngs)

  def __call__(self, x: jax.Array, *, deterministic: bool | None = None,
               rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None) -> jax.Array:
    """Applies AlphaDropout unless deterministic (the call's flag wins over the attribute)."""
    deterministic = self.deterministic if deterministic is None else deterministic
    if deterministic or self.rate == 0.0:
      return x
    rngs = self.rngs if rngs is None else rngs
    if rngs is None:
      raise ValueError("AlphaDropout: deterministic is False but no rngs were given, "
                       "at construction or at call time.")
    if isinstance(rngs, nnx.Rngs):
      key = rngs[self.rng_collection]()
    elif isinstance(rngs, nnx.RngStream):
      key = rngs()
    else:
      key = rngs
    return alpha_dropout(x, self.rate, key=key)
