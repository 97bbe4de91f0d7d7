"""Flax linen modules for jelu's activations and AlphaDropout.

Each module holds no logic: it reads its fields and calls the function. A
module is worth it where it holds state: a learnable alpha (``ELU(learnable=True)``),
or AlphaDropout's ``deterministic`` flag and rng collection. Otherwise the
function is enough, and this module re-exports :func:`jelu.elu`,
:func:`jelu.selu`, :func:`jelu.celu` and :func:`jelu.alpha_dropout` as plain
functions, as ``flax.linen`` re-exports ``jax.nn``'s activations, so
``nn.Sequential([nn.Dense(64), jnn.elu])`` works.

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
  >>> mlp = nn.Sequential([nn.Dense(16), jnn.selu, nn.Dense(1)])
  >>> mlp.init_with_output(jax.random.key(0), x)[0].shape
  (4, 1)
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import flax.linen as nn
import jax
import jax.numpy as jnp

from jelu import alpha_dropout as alpha_dropout
from jelu import celu as celu
from jelu import elu as elu
from jelu import selu as selu
from jelu._checks import (
    channel_groups,
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


class ELU(nn.Module):
  """Exponential linear unit, :func:`jelu.elu` as a layer, optionally with a learnable alpha.

  With ``learnable=True`` the layer owns a param ``"alpha"``, initialised to
  ``alpha``: a scalar, or with ``per_channel=True`` one value per channel, of
  shape ``(x.shape[-1],)`` (torch's ``PReLU(num_parameters)``). Its gradient
  flows through jelu's backward rule (which then keeps ``x`` in place of the
  output). Training must keep it ``>= 0``: a traced alpha cannot be checked,
  and a negative one makes every gradient NaN. With ``positive=True`` the param
  is ``"raw_alpha"``, initialised to ``softplus^-1(alpha)``, and the layer uses
  ``alpha = softplus(raw_alpha)``, which stays ``> 0`` whatever the optimiser does.

  As in :class:`flax.linen.PReLU`, the param lives in ``param_dtype`` and is
  cast to a floating-point ``x``'s dtype, so the output keeps ``x``'s dtype
  (bfloat16 in, bfloat16 out) and the backward pass keeps bfloat16 arrays.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from jelu import linen as jnn
    >>> x = jnp.ones((4, 3), jnp.bfloat16)
    >>> layer = jnn.ELU(0.5, learnable=True, per_channel=True)
    >>> y, variables = layer.init_with_output(jax.random.key(0), x)
    >>> variables["params"]["alpha"]
    Array([0.5, 0.5, 0.5], dtype=float32)
    >>> y.dtype
    dtype(bfloat16)

  Attributes:
    alpha: the saturation magnitude, or the learnable one's initial value
      (default 1.0), finite and ``>= 0``; checked when the module is built.
    learnable: whether alpha is a trainable param (default False).
    per_channel: whether the learnable alpha has one value per channel, the last
      axis of ``x`` (default False); needs ``learnable=True``.
    positive: whether the learnable alpha is ``softplus(raw_alpha)``, so that
      it stays ``> 0`` (default False); needs ``learnable=True`` and ``alpha > 0``.
    param_dtype: the dtype of the learnable alpha (default float32).
    residual: ``"output"`` (default) or ``"input"``, as in :func:`jelu.elu`.
  """

  alpha: float = 1.0
  learnable: bool = False
  per_channel: bool = False
  positive: bool = False
  param_dtype: jnp.dtype = jnp.float32
  residual: str = "output"

  def __post_init__(self):
    check_alpha_value("ELU", self.alpha, celu=False)
    check_residual("ELU", self.residual)
    check_learnable("ELU", self.alpha, learnable=self.learnable, per_channel=self.per_channel,
                    positive=self.positive)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies :func:`jelu.elu` to ``x``."""
    if not self.learnable:
      return elu(x, self.alpha, residual=self.residual)
    shape = (jnp.shape(x)[-1],) if self.per_channel else ()
    if self.positive:
      param = self.param("raw_alpha", nn.initializers.constant(raw_alpha(self.alpha)), shape,
                         self.param_dtype)
    else:
      param = self.param("alpha", nn.initializers.constant(self.alpha), shape, self.param_dtype)
    return elu(x, learned_alpha(param, x, self.positive), residual=self.residual)


class SELU(nn.Module):
  """Scaled exponential linear unit, :func:`jelu.selu` as a layer.

  Attributes:
    residual: ``"output"`` (default) or ``"input"``, as in :func:`jelu.elu`.
  """

  residual: str = "output"

  def __post_init__(self):
    check_residual("SELU", self.residual)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies :func:`jelu.selu` to ``x``."""
    return selu(x, residual=self.residual)


class CELU(nn.Module):
  """Continuously-differentiable ELU, :func:`jelu.celu` as a layer.

  Attributes:
    alpha: the saturation magnitude and input scale (default 1.0), finite and
      ``> 0``; checked when the module is built.
    residual: ``"output"`` (default) or ``"input"``, as in :func:`jelu.elu`.
  """

  alpha: float = 1.0
  residual: str = "output"

  def __post_init__(self):
    check_alpha_value("CELU", self.alpha, celu=True)
    check_residual("CELU", self.residual)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies :func:`jelu.celu` to ``x``."""
    return celu(x, self.alpha, residual=self.residual)


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
    rate: the drop probability, in ``[0, 1]``; checked when the module is built.
      1 returns zeros without drawing a key, as :class:`flax.linen.Dropout` does.
    broadcast_dims: axes along which the mask is shared (default none).
    deterministic: if True, the layer is the identity; may be given here or at
      call time (``flax.linen.merge_param``).
    rng_collection: the rng collection the mask's key is drawn from.
  """

  rate: float
  broadcast_dims: Sequence[int] = ()
  deterministic: bool | None = None
  rng_collection: str = "dropout"

  def __post_init__(self):
    check_rate("AlphaDropout", self.rate)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool | None = None,
               rng: jax.Array | None = None) -> jax.Array:
    """Applies AlphaDropout to ``x`` unless deterministic.

    Args:
      x: the input.
      deterministic: overrides the attribute of the same name.
      rng: a PRNG key to use instead of one from ``rng_collection``.
    """
    deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
    if deterministic or self.rate == 0.0:
      return x
    if self.rate == 1.0:
      return jnp.zeros_like(x)
    if rng is None:
      rng = self.make_rng(self.rng_collection)
    else:
      check_key("AlphaDropout", rng, arg="rng")
    return alpha_dropout(x, self.rate, key=rng, broadcast_dims=self.broadcast_dims)


def _axes(ndim: int, axes: int | Sequence[int]) -> tuple[int, ...]:
  return tuple(sorted(ax % ndim for ax in ((axes,) if isinstance(axes, int) else axes)))


class _NormAct(nn.Module):
  """What the three fused norms share: their params, the call of the fused function.

  Each subclass declares its fields itself, in the order of flax's norm of the same name,
  so that positional arguments mean what they mean there.
  """

  if TYPE_CHECKING:  # fields of every subclass, in each one's own order
    dtype: jnp.dtype | None
    param_dtype: jnp.dtype
    use_bias: bool
    use_scale: bool
    bias_init: nn.initializers.Initializer
    scale_init: nn.initializers.Initializer
    epsilon: float
    axis_name: str | None
    use_fast_variance: bool
    activation: str
    alpha: float
    residual: str

  def __post_init__(self):
    check_norm_act(type(self).__name__, self.activation, self.alpha, self.residual)
    super().__post_init__()

  def _layer(self, x, feature_shape, **kwargs):
    scale = (self.param("scale", self.scale_init, tuple(feature_shape), self.param_dtype)
             if self.use_scale else None)
    bias = (self.param("bias", self.bias_init, tuple(feature_shape), self.param_dtype)
            if self.use_bias else None)
    return layer(x, scale, bias, epsilon=self.epsilon, activation=self.activation,
                 alpha=self.alpha, residual=self.residual, dtype=self.dtype,
                 use_fast_variance=self.use_fast_variance,
                 axis_name=None if self.is_initializing() else self.axis_name, **kwargs)


_NORM_ACT_FIELDS = """
    activation: ``"elu"`` (default), ``"selu"`` or ``"celu"``.
    alpha: the activation's alpha (default 1.0; SELU's is fixed).
    residual: what the backward pass keeps: ``"output"`` (default; the block's
      output, which the next Dense or Conv keeps anyway) or ``"input"`` (exact
      where a 16-bit output cannot be inverted; :func:`jelu.norm_act`).
"""


class BatchNormAct(_NormAct):
  """:class:`flax.linen.BatchNorm` followed by an ELU-family activation, fused.

  The same fields, params (``scale``, ``bias``) and batch stats (``mean``,
  ``var``) as flax's BatchNorm, so ``nn.BatchNorm()`` then ``jelu.elu`` can be
  swapped for ``BatchNormAct()`` and its variables loaded. Training keeps only
  the output (:func:`jelu.norm_act`); with ``use_running_average`` it is the
  norm with the running averages and then the activation.

  Attributes:
    use_running_average, axis, momentum, epsilon, dtype, param_dtype,
    use_bias, use_scale, bias_init, scale_init, axis_name, use_fast_variance: as in
      :class:`flax.linen.BatchNorm`.
  """

  use_running_average: bool | None = None
  axis: int | Sequence[int] = -1
  momentum: float = 0.99
  epsilon: float = 1e-5
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32
  use_bias: bool = True
  use_scale: bool = True
  bias_init: nn.initializers.Initializer = nn.initializers.zeros
  scale_init: nn.initializers.Initializer = nn.initializers.ones
  axis_name: str | None = None
  use_fast_variance: bool = True
  activation: str = "elu"
  alpha: float = 1.0
  residual: str = "output"

  @nn.compact
  def __call__(self, x: jax.Array, use_running_average: bool | None = None) -> jax.Array:
    """Normalises ``x`` (batch statistics, or the running averages) and applies the activation."""
    use_running_average = nn.merge_param("use_running_average", self.use_running_average,
                                         use_running_average)
    features = _axes(x.ndim, self.axis)
    feature_shape = [x.shape[ax] for ax in features]
    ra_mean = self.variable("batch_stats", "mean", lambda s: jnp.zeros(s, jnp.float32),
                            feature_shape)
    ra_var = self.variable("batch_stats", "var", lambda s: jnp.ones(s, jnp.float32),
                           feature_shape)
    y, mean, var = self._layer(
        x, feature_shape, features=features,
        reduction=tuple(i for i in range(x.ndim) if i not in features),
        running=(ra_mean.value, ra_var.value) if use_running_average else None)
    if mean is not None and var is not None and not self.is_initializing():
      momentum = self.momentum
      ra_mean.value = momentum * ra_mean.value + (1 - momentum) * mean.reshape(feature_shape)
      ra_var.value = momentum * ra_var.value + (1 - momentum) * var.reshape(feature_shape)
    return y


class LayerNormAct(_NormAct):
  """:class:`flax.linen.LayerNorm` followed by an ELU-family activation, fused.

  The same fields and params (``scale``, ``bias``) as flax's LayerNorm; the
  backward pass keeps only the output (:func:`jelu.norm_act`).

  Attributes:
    epsilon, dtype, param_dtype, use_bias, use_scale, bias_init, scale_init,
    reduction_axes, feature_axes, axis_name, use_fast_variance: as in
      :class:`flax.linen.LayerNorm`.
  """

  epsilon: float = 1e-6
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32
  use_bias: bool = True
  use_scale: bool = True
  bias_init: nn.initializers.Initializer = nn.initializers.zeros
  scale_init: nn.initializers.Initializer = nn.initializers.ones
  reduction_axes: int | Sequence[int] = -1
  feature_axes: int | Sequence[int] = -1
  axis_name: str | None = None
  use_fast_variance: bool = True
  activation: str = "elu"
  alpha: float = 1.0
  residual: str = "output"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Normalises ``x`` over ``reduction_axes`` and applies the activation."""
    features = _axes(x.ndim, self.feature_axes)
    return self._layer(x, [x.shape[ax] for ax in features], features=features,
                       reduction=_axes(x.ndim, self.reduction_axes))[0]


class GroupNormAct(_NormAct):
  """:class:`flax.linen.GroupNorm` followed by an ELU-family activation, fused.

  The same fields and params (``scale``, ``bias``) as flax's GroupNorm; the
  backward pass keeps only the output (:func:`jelu.norm_act`). Statistics are
  over each group of channels and every axis but the first (the batch), or
  ``reduction_axes``.

  Attributes:
    num_groups, group_size, epsilon, dtype, param_dtype, use_bias, use_scale,
    bias_init, scale_init, reduction_axes, axis_name, use_fast_variance: as in
      :class:`flax.linen.GroupNorm`.
  """

  num_groups: int | None = 32
  group_size: int | None = None
  epsilon: float = 1e-6
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32
  use_bias: bool = True
  use_scale: bool = True
  bias_init: nn.initializers.Initializer = nn.initializers.zeros
  scale_init: nn.initializers.Initializer = nn.initializers.ones
  reduction_axes: Sequence[int] | None = None
  axis_name: str | None = None
  use_fast_variance: bool = True
  activation: str = "elu"
  alpha: float = 1.0
  residual: str = "output"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Normalises ``x`` over each group of channels and applies the activation."""
    name = type(self).__name__
    groups = channel_groups(name, x.shape[-1], self.num_groups, self.group_size)
    return self._layer(x, [x.shape[-1]], features=(x.ndim - 1,), groups=groups,
                       reduction=group_reduction(name, x.ndim, self.reduction_axes))[0]


for _module in (BatchNormAct, LayerNormAct, GroupNormAct):
  # Cleaned first: Python 3.13 dedents docstrings, earlier releases do not.
  _module.__doc__ = (inspect.cleandoc(_module.__doc__ or "") + "\n"
                     + textwrap.indent(textwrap.dedent(_NORM_ACT_FIELDS).strip("\n"), "  "))
