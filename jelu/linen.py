"""Flax linen modules for jelu's activations.

Each module holds no logic: it reads its fields and calls the function.

Example:
  >>> import jax, jax.numpy as jnp
  >>> import flax.linen as nn
  >>> from jelu import linen as jnn
  >>> class MLP(nn.Module):
  ...   @nn.compact
  ...   def __call__(self, x):
  ...     x = jnn.ELU()(nn.Dense(16)(x))
  ...     return nn.Dense(1)(x)
  >>> x = jnp.ones((4, 3))
  >>> y, variables = MLP().init_with_output(jax.random.key(0), x)
  >>> y.shape
  (4, 1)
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jelu._activations import celu, elu, selu
from jelu._dropout import _check_rate, alpha_dropout


class ELU(nn.Module):
  """Exponential linear unit, :func:`jelu.elu` as a layer, optionally with a learnable alpha.

  With ``learnable=True`` the layer owns a scalar param ``"alpha"``, initialised
  to ``alpha``, whose gradient flows through jelu's backward rule (which then
  keeps ``x`` as well as the output). Training must keep it ``>= 0``: a traced
  alpha cannot be checked.

  Attributes:
    alpha: the saturation magnitude, or the learnable one's initial value
      (default 1.0), finite and ``>= 0``.
    learnable: whether alpha is a trainable param (default False).
    param_dtype: the dtype of the learnable alpha (default float32). The output
      dtype follows jax.nn's promotion of ``x`` with it.
  """

  alpha: float = 1.0
  learnable: bool = False
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies :func:`jelu.elu` to ``x``."""
    alpha = (self.param("alpha", lambda _: jnp.asarray(self.alpha, self.param_dtype))
             if self.learnable else self.alpha)
    return elu(x, alpha)


class SELU(nn.Module):
  """Scaled exponential linear unit, :func:`jelu.selu` as a layer."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies :func:`jelu.selu` to ``x``."""
    return selu(x)


class CELU(nn.Module):
  """Continuously-differentiable ELU, :func:`jelu.celu` as a layer.

  Attributes:
    alpha: the saturation magnitude and input scale (default 1.0), finite and
      ``> 0``.
  """

  alpha: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies :func:`jelu.celu` to ``x``."""
    return celu(x, self.alpha)


class AlphaDropout(nn.Module):
  """AlphaDropout (:func:`jelu.alpha_dropout`) with :class:`flax.linen.Dropout`'s conventions.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from jelu import linen as jnn
    >>> layer = jnn.AlphaDropout(rate=0.1)
    >>> x = jnp.ones((2, 3))
    >>> bool((layer.apply({}, x, deterministic=True) == x).all())
    True
    >>> y = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})

  Attributes:
    rate: the drop probability, in ``[0, 1)``.
    deterministic: if True, the layer is the identity; may be given here or at
      call time (``flax.linen.merge_param``).
    rng_collection: the rng collection the mask's key is drawn from.
  """

  rate: float
  deterministic: bool | None = None
  rng_collection: str = "dropout"

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool | None = None,
               rng: jax.Array | None = None) -> jax.Array:
    """Applies AlphaDropout to ``x`` unless deterministic.

    Args:
      x: the input.
      deterministic: overrides the attribute of the same name.
      rng: a PRNG key to use instead of one from ``rng_collection``.
    """
    _check_rate(self.rate)
    deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
    if deterministic or self.rate == 0.0:
      return x
    if rng is None:
      rng = self.make_rng(self.rng_collection)
    return alpha_dropout(x, self.rate, key=rng)
