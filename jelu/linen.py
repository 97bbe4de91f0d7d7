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

from jelu._activations import celu, elu, selu


class ELU(nn.Module):
  """Exponential linear unit, :func:`jelu.elu` as a layer.

  Attributes:
    alpha: the saturation magnitude (default 1.0), finite and ``>= 0``.
  """

  alpha: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies :func:`jelu.elu` to ``x``."""
    return elu(x, self.alpha)


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
