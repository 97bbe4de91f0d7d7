"""Flax nnx modules for jelu's activations and AlphaDropout.

A module is worth it where it holds state: a learnable alpha (an ``nnx.Param``),
or AlphaDropout's ``deterministic`` flag, which ``.eval()``, ``.train()`` and
``nnx.view`` set, and its rng stream. Otherwise the function is enough, and this
module re-exports :func:`jelu.elu`, :func:`jelu.selu`, :func:`jelu.celu` and
:func:`jelu.alpha_dropout` as plain functions, so ``nnx.Sequential(...,
jnnx.selu, ...)`` works.

Example:
  >>> import jax.numpy as jnp
  >>> from flax import nnx
  >>> from jelu import nnx as jnnx
  >>> rngs = nnx.Rngs(0)
  >>> model = nnx.Sequential(
  ...     nnx.Linear(3, 16, kernel_init=nnx.initializers.lecun_normal(), rngs=rngs),
  ...     jnnx.selu,
  ...     jnnx.AlphaDropout(0.1, rngs=rngs),
  ...     nnx.Linear(16, 1, rngs=rngs))
  >>> model.eval()  # AlphaDropout becomes the identity
  >>> model(jnp.ones((4, 3))).shape
  (4, 1)
  >>> evaluation = nnx.view(model, deterministic=True)  # the same, as a view
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jelu import alpha_dropout as alpha_dropout
from jelu import celu as celu
from jelu import elu as elu
from jelu import selu as selu
from jelu._checks import (
    check_alpha_value,
    check_key,
    check_learnable,
    check_norm_act,
    check_rate,
    check_residual,
    group_reduction,
    learned_alpha,
    raw_alpha,
)
from jelu._norm_act import layer

__all__ = ["ELU", "SELU", "CELU", "AlphaDropout", "BatchNormAct", "GroupNormAct", "LayerNormAct",
           "elu", "selu", "celu", "alpha_dropout"]


class ELU(nnx.Module):
  """Exponential linear unit, :func:`jelu.elu` as a layer, optionally with a learnable alpha.

  As in :class:`flax.linen.PReLU`, a learnable alpha lives in ``param_dtype``
  and is cast to a floating-point ``x``'s dtype, so the output keeps ``x``'s
  dtype (bfloat16 in, bfloat16 out).

  Example:
    >>> import jax.numpy as jnp
    >>> from jelu import nnx as jnnx
    >>> layer = jnnx.ELU(0.5, learnable=True, per_channel=True, features=3)
    >>> layer.alpha[...]
    Array([0.5, 0.5, 0.5], dtype=float32)
    >>> layer(jnp.ones((4, 3), jnp.bfloat16)).dtype
    dtype(bfloat16)

  Args:
    alpha: the saturation magnitude, or the learnable one's initial value
      (default 1.0), finite and ``>= 0``.
    learnable: if True, ``self.alpha`` is an ``nnx.Param`` that training moves
      (keep it ``>= 0``: a traced alpha cannot be checked, and a negative one
      makes every gradient NaN).
    per_channel: if True, the learnable alpha has one value per channel, the
      last axis of ``x`` (torch's ``PReLU(num_parameters)``); needs
      ``learnable=True`` and ``features``.
    features: the number of channels, for ``per_channel=True``.
    positive: if True, the param is ``self.raw_alpha``, initialised to
      ``softplus^-1(alpha)``, and the layer uses ``alpha = softplus(raw_alpha)``,
      which stays ``> 0`` whatever the optimiser does; needs ``learnable=True``
      and ``alpha > 0``.
    param_dtype: the learnable alpha's dtype (default float32).
    residual: ``"output"`` (default) or ``"input"``, as in :func:`jelu.elu`.

  Raises:
    ValueError: for a negative, NaN or infinite ``alpha``, ``per_channel``
      without ``learnable`` or without a positive ``features``,
      ``features`` without ``per_channel``, ``positive`` without ``learnable``
      or with ``alpha == 0``, or an unknown ``residual``.
  """

  def __init__(self, alpha: float = 1.0, *, learnable: bool = False,
               per_channel: bool = False, features: int | None = None,
               positive: bool = False, param_dtype: jnp.dtype = jnp.float32,
               residual: str = "output"):
    check_alpha_value("ELU", alpha, celu=False)
    check_residual("ELU", residual)
    check_learnable("ELU", alpha, learnable=learnable, per_channel=per_channel,
                    positive=positive)
    self.residual = residual
    self.positive = positive
    if features is not None and not per_channel:
      raise ValueError("ELU: features is the number of channels of a per-channel alpha; "
                       "give per_channel=True with it.")
    shape: tuple[int, ...] = ()
    if per_channel:
      if isinstance(features, bool) or not isinstance(features, numbers.Integral) or features < 1:
        raise ValueError(f"ELU: per_channel=True needs features, the number of channels, "
                         f"a positive int; got {features!r}.")
      shape = (int(features),)
    if positive:
      self.raw_alpha = nnx.Param(jnp.full(shape, raw_alpha(alpha), param_dtype))
    else:
      self.alpha = nnx.Param(jnp.full(shape, alpha, param_dtype)) if learnable else alpha

  def __call__(self, x: jax.Array) -> jax.Array:
    if self.positive:
      return elu(x, learned_alpha(self.raw_alpha[...], x, True), residual=self.residual)
    if not isinstance(self.alpha, nnx.Param):
      return elu(x, self.alpha, residual=self.residual)
    return elu(x, learned_alpha(self.alpha[...], x, False), residual=self.residual)


class SELU(nnx.Module):
  """Scaled exponential linear unit, :func:`jelu.selu` as a layer.

  Args:
    residual: ``"output"`` (default) or ``"input"``, as in :func:`jelu.elu`.
  """

  def __init__(self, *, residual: str = "output"):
    check_residual("SELU", residual)
    self.residual = residual

  def __call__(self, x: jax.Array) -> jax.Array:
    return selu(x, residual=self.residual)


class CELU(nnx.Module):
  """Continuously-differentiable ELU, :func:`jelu.celu` as a layer.

  Args:
    alpha: the saturation magnitude and input scale (default 1.0), finite and
      ``> 0``.
    residual: ``"output"`` (default) or ``"input"``, as in :func:`jelu.elu`.

  Raises:
    ValueError: for a zero, negative, NaN or infinite ``alpha``, or an unknown
      ``residual``.
  """

  def __init__(self, alpha: float = 1.0, *, residual: str = "output"):
    check_alpha_value("CELU", alpha, celu=True)
    check_residual("CELU", residual)
    self.alpha = alpha
    self.residual = residual

  def __call__(self, x: jax.Array) -> jax.Array:
    return celu(x, self.alpha, residual=self.residual)


class AlphaDropout(nnx.Module):
  """AlphaDropout (:func:`jelu.alpha_dropout`) with :class:`flax.nnx.Dropout`'s conventions.

  ``.eval()`` on it or on any module holding it sets ``deterministic=True`` (the
  identity), ``.train()`` sets it back, and ``nnx.view(model,
  deterministic=...)`` returns a view with it set (:meth:`set_view`). A
  ``deterministic`` given at call time wins over all of them.

  Example:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> from jelu import nnx as jnnx
    >>> layer = jnnx.AlphaDropout(0.5, rngs=nnx.Rngs(0))
    >>> x = jnp.ones((2, 3))
    >>> bool((nnx.view(layer, deterministic=True)(x) == x).all())
    True
    >>> layer.deterministic  # the view left the module itself as it was
    False

  Args:
    rate: the drop probability, in ``[0, 1]``. 1 returns zeros without drawing
      a key, as ``nnx.Dropout`` does.
    broadcast_dims: axes along which the mask is shared (default none).
    deterministic: if True, the identity (default False); None means it must
      come from ``nnx.view`` or the call.
    rng_collection: the stream the mask's keys come from (default "dropout").
    rngs: an ``nnx.Rngs`` (its ``rng_collection`` stream is forked), an
      ``nnx.RngStream``, or None to pass keys at call time.

  Raises:
    TypeError: for ``rngs`` of another type, or a non-number ``rate``.
    ValueError: for ``rate`` outside ``[0, 1]``.
  """

  def __init__(self, rate: float, *, broadcast_dims: Sequence[int] = (),
               deterministic: bool | None = False, rng_collection: str = "dropout",
               rngs: nnx.Rngs | nnx.RngStream | None = None):
    check_rate("AlphaDropout", rate)
    self.rate = rate
    self.broadcast_dims = broadcast_dims
    self.deterministic = deterministic
    self.rng_collection = rng_collection
    if isinstance(rngs, nnx.Rngs):
      rngs = rngs[rng_collection].fork()
    elif isinstance(rngs, nnx.RngStream):
      rngs = rngs.fork()
    elif rngs is not None:
      raise TypeError("AlphaDropout: rngs must be an nnx.Rngs, an nnx.RngStream or None, "
                      f"got {type(rngs).__name__}.")
    self.rngs = nnx.data(rngs)

  def __call__(self, x: jax.Array, *, deterministic: bool | None = None,
               rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None) -> jax.Array:
    """Applies AlphaDropout unless deterministic (the call's flag wins over the attribute).

    Args:
      x: the input.
      deterministic: overrides the attribute of the same name.
      rngs: an ``nnx.Rngs``, ``nnx.RngStream`` or PRNG key to use instead of
        the module's stream.
    """
    deterministic = self.deterministic if deterministic is None else deterministic
    if deterministic is None:
      raise ValueError("AlphaDropout: deterministic is None; give it at construction, "
                       "at call time, or with nnx.view(model, deterministic=...).")
    if deterministic or self.rate == 0.0:
      return x
    if self.rate == 1.0:
      return jnp.zeros_like(x)
    rngs = self.rngs if rngs is None else rngs
    if rngs is None:
      raise ValueError("AlphaDropout: deterministic is False but no rngs were given, "
                       "at construction or at call time.")
    if isinstance(rngs, nnx.Rngs):
      key = rngs[self.rng_collection]()
    elif isinstance(rngs, nnx.RngStream):
      key = rngs()
    elif isinstance(rngs, jax.Array):
      check_key("AlphaDropout", rngs, arg="rngs")
      key = rngs
    else:
      raise TypeError("AlphaDropout: rngs must be an nnx.Rngs, an nnx.RngStream or a PRNG "
                      f"key, got {type(rngs).__name__}.")
    return alpha_dropout(x, self.rate, key=key, broadcast_dims=self.broadcast_dims)

  def set_view(self, deterministic: bool | None = None):
    """Used by ``nnx.view``: sets ``deterministic`` on the view.

    Args:
      deterministic: if True, the view is the identity; None leaves it as is.
    """
    if deterministic is not None:
      self.deterministic = deterministic


def _value(variable):
  """A param's array, or None for a norm built without it."""
  return None if variable is None else variable[...]


class BatchNormAct(nnx.BatchNorm):
  """:class:`flax.nnx.BatchNorm` followed by an ELU-family activation, fused.

  A subclass of flax's BatchNorm with its arguments, state (``scale``, ``bias``,
  ``mean``, ``var``) and ``use_running_average`` (``.eval()``, ``nnx.view``);
  training keeps only the output (:func:`jelu.norm_act`).

  Args:
    num_features, kwargs: as :class:`flax.nnx.BatchNorm` takes them.
    activation, alpha, residual: as :class:`jelu.linen.BatchNormAct` takes them.
  """

  def __init__(self, num_features: int, *, activation: str = "elu", alpha: float = 1.0,
               residual: str = "output", **kwargs):
    check_norm_act(type(self).__name__, activation, alpha, residual, kwargs)
    super().__init__(num_features, **kwargs)
    self.activation, self.alpha, self.residual = activation, alpha, residual

  def __call__(self, x: jax.Array, use_running_average: bool | None = None) -> jax.Array:
    use_running_average = (self.use_running_average if use_running_average is None
                           else use_running_average)
    if use_running_average is None:
      raise ValueError("BatchNormAct: give use_running_average to the constructor, the call "
                       "or nnx.view.")
    features = tuple(sorted(ax % x.ndim for ax in (
        (self.axis,) if isinstance(self.axis, int) else self.axis)))
    y, mean, var = layer(
        x, _value(self.scale), _value(self.bias), features=features,
        reduction=tuple(i for i in range(x.ndim) if i not in features), epsilon=self.epsilon,
        activation=self.activation, alpha=self.alpha, residual=self.residual,
        axis_name=self.axis_name, dtype=self.dtype, use_fast_variance=self.use_fast_variance,
        running=(self.mean[...], self.var[...]) if use_running_average else None)
    if mean is not None and var is not None:
      shape, momentum = self.mean[...].shape, self.momentum
      self.mean[...] = momentum * self.mean[...] + (1 - momentum) * mean.reshape(shape)
      self.var[...] = momentum * self.var[...] + (1 - momentum) * var.reshape(shape)
    return y


class LayerNormAct(nnx.LayerNorm):
  """:class:`flax.nnx.LayerNorm` followed by an ELU-family activation, fused.

  A subclass of flax's LayerNorm with its arguments and params; the backward
  pass keeps only the output (:func:`jelu.norm_act`).

  Args:
    num_features, kwargs: as :class:`flax.nnx.LayerNorm` takes them.
    activation, alpha, residual: as :class:`jelu.linen.BatchNormAct` takes them.
  """

  def __init__(self, num_features: int, *, activation: str = "elu", alpha: float = 1.0,
               residual: str = "output", **kwargs):
    check_norm_act(type(self).__name__, activation, alpha, residual, kwargs)
    super().__init__(num_features, **kwargs)
    self.activation, self.alpha, self.residual = activation, alpha, residual

  def __call__(self, x: jax.Array) -> jax.Array:
    def axes(value):
      return tuple(sorted(ax % x.ndim for ax in ((value,) if isinstance(value, int) else value)))

    return layer(x, _value(self.scale), _value(self.bias), features=axes(self.feature_axes),
                 reduction=axes(self.reduction_axes), epsilon=self.epsilon,
                 activation=self.activation, alpha=self.alpha, residual=self.residual,
                 axis_name=self.axis_name, dtype=self.dtype,
                 use_fast_variance=self.use_fast_variance)[0]


class GroupNormAct(nnx.GroupNorm):
  """:class:`flax.nnx.GroupNorm` followed by an ELU-family activation, fused.

  A subclass of flax's GroupNorm with its arguments and params; the backward
  pass keeps only the output (:func:`jelu.norm_act`).

  Args:
    num_features, num_groups, group_size, kwargs: as
      :class:`flax.nnx.GroupNorm` takes them.
    activation, alpha, residual: as :class:`jelu.linen.BatchNormAct` takes them.
  """

  def __init__(self, num_features: int, num_groups: int | None = 32,
               group_size: int | None = None, *, activation: str = "elu", alpha: float = 1.0,
               residual: str = "output", **kwargs):
    check_norm_act(type(self).__name__, activation, alpha, residual, kwargs)
    super().__init__(num_features, num_groups, group_size, **kwargs)
    self.activation, self.alpha, self.residual = activation, alpha, residual

  def __call__(self, x: jax.Array) -> jax.Array:
    return layer(x, _value(self.scale), _value(self.bias), features=(x.ndim - 1,),
                 groups=self.num_groups,
                 reduction=group_reduction(type(self).__name__, x.ndim, self.reduction_axes),
                 epsilon=self.epsilon, activation=self.activation, alpha=self.alpha,
                 residual=self.residual, axis_name=self.axis_name, dtype=self.dtype,
                 use_fast_variance=self.use_fast_variance)[0]
