"""Normalisation, affine map and ELU-family activation in one custom VJP that keeps its output.

The forward, with statistics over ``axes`` (averaged over ``axis_name`` too)::

    x_hat = (x - mean) * rsqrt(var + epsilon)
    z = scale * x_hat + bias
    y = f(z)                                   # ELU, SELU or CELU

A norm followed by an activation keeps two arrays for the backward pass (the
norm's input and the activation's). The backward here needs only ``y`` and the
per-channel statistics (as In-Place Activated BatchNorm, Rota Bulo et al.,
CVPR 2018): the slope is a function of ``y`` (`jelu._activations`), ``z`` is
``f``'s inverse of ``y`` (``log1p(y / a)`` on the negative branch) and
``x_hat = (z - bias) / scale``. When the next layer is a Dense or a Conv, which
keeps ``y`` for its own weight gradient, the block keeps nothing of its own.

What the inversion costs, and the choice it leaves (``residual="input"`` keeps
``x`` and is exact) are measured in the docs page "Norm and activation fused":

- ``y`` rounded to ``-a`` (float32 below about ``z = -16``, bfloat16 below about
  ``z = -5.5``) no longer tells ``z``; it is taken at that bound. The slope
  there is below an ulp of ``a`` either way, but ``x_hat``'s error enters ``dx``
  through the norm's backward.
- ``scale`` near 0 makes ``(z - bias) / scale`` ill-conditioned: the scale's
  gradient loses accuracy as ``1 / |scale|``; ``dx`` does not (its error stays
  of the order of the recovered ``z``'s). Where ``scale`` is exactly 0 the
  scale's gradient is not recoverable from ``y`` and is taken as 0 (``dx`` and
  the bias's gradient are exact there).

No |scale| + eps is imposed: the model and its weights are flax's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from jelu._activations import (
    _DEFAULT_SATURATION,
    _SCALE,
    _slope_from_input,
    _slope_from_output,
    _sum_over_extra_manual_axes,
    _unbroadcast,
    _unrounded,
)
from jelu._activations import celu as _celu
from jelu._activations import elu as _elu
from jelu._activations import selu as _selu
from jelu._checks import check_norm_act
from jelu._xla import narrowed, summed_together


def _pooled(v: jax.Array, axes: tuple[int, ...], groups: int | None, op=jnp.mean) -> jax.Array:
  """``op`` (a mean or a sum) over ``axes``, kept; with ``groups``, the last axis is in
  ``axes`` and is pooled within each of that many groups of channels, each channel getting
  its group's value.

  A group norm's arrays keep their shape: split into ``[..., groups, channels / groups]``,
  a few channels per group would be the minor dimension, which XLA:TPU pads to 128 lanes.
  """
  if groups is None:
    return op(v, axes, keepdims=True)
  v = op(v, axes[:-1], keepdims=True)
  *lead, channels = v.shape
  v = op(v.reshape(*lead, groups, channels // groups), -1, keepdims=True)
  return jnp.broadcast_to(v, (*lead, groups, channels // groups)).reshape(*lead, channels)


def _statistics(xw: jax.Array, axes: tuple[int, ...], groups: int | None, axis_name,
                fast_variance: bool) -> tuple[jax.Array, jax.Array]:
  """Mean and variance over ``axes`` (kept), as flax's norms compute them.

  ``fast_variance``: ``E[x^2] - E[x]^2`` from one pass (flax's default), else
  ``E[(x - E[x])^2]`` from a second pass over ``x``.
  """
  mean = _pooled(xw, axes, groups)
  if not fast_variance:
    if axis_name is not None:
      mean = lax.pmean(mean, axis_name)
    var = _pooled(jnp.square(xw - mean), axes, groups)
    return mean, var if axis_name is None else lax.pmean(var, axis_name)
  mean2 = _pooled(xw * xw, axes, groups)
  if axis_name is not None:
    mean, mean2 = lax.pmean((mean, mean2), axis_name)
  return mean, jnp.maximum(0.0, mean2 - mean * mean)


def _inverse(y: jax.Array, a: float, kind: str, dtype: jnp.dtype) -> jax.Array:
  """``z`` from ``y = f(z)``; where ``y`` has rounded to ``-a``, the bound below which it does."""
  t = jnp.maximum(y / a, -1 + jnp.finfo(dtype).eps / 2)
  negative = jnp.log1p(t)
  negative = a * negative if kind == "celu" else negative
  return jnp.where(y > 0, y / _SCALE[kind], negative)


def _forward(x, scale, bias, a, axes, groups, epsilon, kind, axis_name, dtype, fast_variance):
  compute_dtype = jnp.promote_types(x.dtype, jnp.float32)
  xw = x.astype(compute_dtype)
  mean, var = _statistics(xw, axes, groups, axis_name, fast_variance)
  rstd = lax.rsqrt(var + epsilon)
  # flax's order: (x - mean) * (rsqrt(var + eps) * scale) + bias.
  z = (xw - mean) * (rstd * scale.astype(compute_dtype)) + bias.astype(compute_dtype)
  y = narrowed(_unrounded(z, jnp.asarray(a, compute_dtype), kind, out_dtype=dtype), dtype,
               output=True)
  return y, mean, var, rstd


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6, 7, 8, 9, 10, 11))
def _norm_act(x, scale, bias, a, axes, groups, epsilon, kind, residual, axis_name, dtype,
              fast_variance):
  y, mean, var, _ = _forward(x, scale, bias, a, axes, groups, epsilon, kind, axis_name, dtype,
                             fast_variance)
  return y, mean, var


def _norm_act_fwd(x, scale, bias, a, axes, groups, epsilon, kind, residual, axis_name, dtype,
                  fast_variance):
  y, mean, var, rstd = _forward(x, scale, bias, a, axes, groups, epsilon, kind, axis_name,
                                dtype, fast_variance)
  # An empty array of x's dtype stands in for the one not kept.
  if residual == "input":
    kept = (jnp.empty((0,), y.dtype), x)
  else:
    kept = (y, jnp.empty((0,), x.dtype))
  return (y, mean, var), (*kept, scale, bias, mean, rstd)


def _dz_and_x_hat(kept, g, scale, bias, mean, rstd, a, kind, residual, count, tie):
  """The activation's input gradient and the normalised input, from the kept array.

  ``tie`` picks one element of ``g``, times 0 (which XLA does not fold: g may hold an
  inf or NaN), added to the kept array: what is computed from it then waits for ``g``,
  where XLA:CPU would compute it as soon as the forward pass has the array and keep it
  until the backward pass. Two calls with different ``tie`` are two computations that
  XLA does not merge, so each pass computes its own instead of writing one out for both.
  """
  compute_dtype = rstd.dtype
  sw, bw = scale.astype(compute_dtype), bias.astype(compute_dtype)
  gw = g.astype(compute_dtype)
  kept_dtype = kept.dtype
  if g.size:
    # Indexed in place: flattened, g would be a copy on XLA:TPU, whose layouts are tiled.
    kept = kept + 0 * g[tuple(int(i) for i in np.unravel_index(tie % g.size, g.shape))]
  kept = kept.astype(compute_dtype)
  if residual == "input":
    x_hat = (kept - mean) * rstd
    return gw * _slope_from_input(x_hat * sw + bw, a, kind), x_hat
  nonzero = sw != 0
  z = _inverse(kept, a, kind, kept_dtype)
  x_hat = jnp.where(nonzero, (z - bw) / jnp.where(nonzero, sw, 1), 0.0)
  # A normalised array of n values lies within sqrt(n) of 0: the bound keeps an x_hat that
  # a scale far below the output's precision would blow up (to 1e23 at scale 1e-30).
  bound = math.sqrt(count)
  return gw * _slope_from_output(kept, a, kind), jnp.clip(x_hat, -bound, bound)


def _norm_act_bwd(a, axes, groups, epsilon, kind, residual, axis_name, dtype, fast_variance,
                  res, cotangents):
  # The statistics' cotangents are ignored: norm_act returns them behind stop_gradient.
  g = cotangents[0]
  y, x, scale, bias, mean, rstd = res
  kept = x if residual == "input" else y
  count = math.prod(kept.shape[ax] for ax in axes) // (groups or 1)
  if axis_name is not None:
    count = count * lax.psum(1, axis_name)
  args = (kept, g, scale, bias, mean, rstd, a, kind, residual, count)
  # The sums: dz and dz * x_hat over the statistics' axes, and the params' gradients.
  dz, x_hat = _dz_and_x_hat(*args, tie=0)
  sw = scale.astype(rstd.dtype)
  # Sums over the statistics' axes (for dx) and over the params' broadcast axes (for their
  # gradients), from one pass over the big arrays where the two share axes: partial sums
  # over the shared axes first (all of them for a batch norm, the spatial ones for a group
  # norm), then small sums of those. A layer norm shares none: its params' sums are a pass
  # of their own, recomputing dz and x_hat rather than keeping them.
  shape = jnp.broadcast_shapes(jnp.shape(scale), jnp.shape(bias), (1,) * kept.ndim)
  # A group norm's channel axis is summed within groups, with the params' axes (_pooled).
  shared = tuple(ax for ax in axes if shape[ax] == 1 and not (groups and ax == kept.ndim - 1))
  rest = tuple(ax for ax in axes if ax not in shared)
  if shared:
    partial = summed_together((dz, dz * x_hat), shared)
  else:
    partial = (dz, dz * x_hat)
  sums = tuple(_pooled(s * sw, rest, groups, jnp.sum) for s in partial)
  if not shared:
    dz, x_hat = _dz_and_x_hat(*args, tie=1)
    partial = (dz, dz * x_hat)
  dbias, dscale = _unbroadcast(partial[0], bias.shape), _unbroadcast(partial[1], scale.shape)
  if axis_name is not None:
    sums = lax.psum(sums, axis_name)
  mean_dx_hat, mean_dx_hat_x_hat = sums[0] / count, sums[1] / count
  # dx, from dz and x_hat computed again.
  dz, x_hat = _dz_and_x_hat(*args, tie=-1)
  dx = rstd * (dz * sw - mean_dx_hat - x_hat * mean_dx_hat_x_hat)
  # Inside shard_map, replicated params get the sum of every shard's gradient.
  dscale = _sum_over_extra_manual_axes(dscale, like=scale).astype(scale.dtype)
  dbias = _sum_over_extra_manual_axes(dbias, like=bias).astype(bias.dtype)
  return narrowed(dx, x.dtype), dscale, dbias


_norm_act.defvjp(_norm_act_fwd, _norm_act_bwd)


def norm_act(x: ArrayLike, scale: ArrayLike | None = None, bias: ArrayLike | None = None, *,
             axes: int | Sequence[int], activation: str = "elu", alpha: float = 1.0,
             epsilon: float = 1e-5, residual: str = "output", axis_name=None, dtype=None,
             use_fast_variance: bool = True, groups: int | None = None
             ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Normalises ``x`` over ``axes``, applies ``scale`` and ``bias``, then an ELU-family activation.

  ``activation(scale * (x - mean) / sqrt(var + epsilon) + bias)`` in one
  ``jax.custom_vjp`` whose backward pass keeps only the output (and the
  statistics) with ``residual="output"``, or ``x`` with ``residual="input"``,
  which is exact where the output cannot be inverted (see the module's notes
  and the docs page "Norm and activation fused"). The statistics are flax's,
  at least in float32. Reverse mode only, as the activations.

  Args:
    x: the input.
    scale, bias: arrays broadcastable to ``x`` (a norm's per-feature params,
      with size-1 axes where ``x`` is reduced), or None for 1 and 0.
    axes: the axes of ``x`` to compute the mean and variance over.
    activation: ``"elu"`` (default), ``"selu"`` or ``"celu"``.
    alpha: the activation's alpha, a python number (SELU's is fixed).
    epsilon: added to the variance.
    residual: ``"output"`` (default; a 16-bit output tells ``z`` coarsely where
      the activation saturates, see the docs' error table) or ``"input"``.
    axis_name: a named axis (``shard_map``, ``pmap``) to average statistics over.
    dtype: the output's dtype (default: ``x``, ``scale`` and ``bias`` promoted).
    use_fast_variance: as in flax's norms: ``E[x^2] - E[x]^2`` (default, one
      pass) or, with False, ``E[(x - E[x])^2]`` (two passes, more accurate
      where the mean is large against the spread).
    groups: a group norm's number of groups: the last axis, which must be in
      ``axes``, is split into that many groups of channels, each with its own
      statistics.

  Returns:
    ``(y, mean, var)``; the statistics have ``x``'s shape with size 1 on
    ``axes`` (with ``groups``, the last axis whole, each channel holding its
    group's), at least float32, behind ``stop_gradient`` (for running averages).
  """
  check_norm_act("norm_act", activation, alpha, residual)
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"norm_act: x must be a floating-point array, got {x.dtype}.")
  scale = jnp.ones((), x.dtype) if scale is None else jnp.asarray(scale)
  bias = jnp.zeros((), x.dtype) if bias is None else jnp.asarray(bias)
  for name, v in (("scale", scale), ("bias", bias)):
    pairs = zip(v.shape[::-1], x.shape[::-1], strict=False)
    if v.ndim > x.ndim or any(n not in (1, m) for n, m in pairs):
      raise ValueError(f"norm_act: {name} of shape {v.shape} does not broadcast to x's "
                       f"shape {x.shape}.")
  axes = tuple(sorted(ax % x.ndim for ax in ((axes,) if isinstance(axes, int) else axes)))
  if groups is not None and (x.ndim - 1 not in axes or x.shape[-1] % groups):
    raise ValueError(f"norm_act: groups={groups} needs the last axis in axes and a multiple "
                     f"of {groups} channels; got axes {axes} and x of shape {x.shape}.")
  if dtype is None:
    dtype = jnp.result_type(x, scale, bias)
  a = float(_DEFAULT_SATURATION["selu"]) if activation == "selu" else float(alpha)
  y, mean, var = cast(tuple[jax.Array, jax.Array, jax.Array], _norm_act(
      x, scale, bias, a, axes, groups, float(epsilon), activation, residual, axis_name,
      jnp.dtype(dtype), bool(use_fast_variance)))
  return y, lax.stop_gradient(mean), lax.stop_gradient(var)


def normalized_act(x: jax.Array, mean: jax.Array, var: jax.Array, scale, bias, *,
                   epsilon: float, activation: str, alpha: float, residual: str,
                   dtype) -> jax.Array:
  """The same map with given statistics (a norm's running averages), then jelu's activation.

  The evaluation mode of the BatchNorm modules: an elementwise affine map, which
  needs no custom VJP of its own.
  """
  compute_dtype = jnp.promote_types(x.dtype, jnp.float32)
  mul = lax.rsqrt(var.astype(compute_dtype) + epsilon)
  if scale is not None:
    mul = mul * scale
  z = (x.astype(compute_dtype) - mean) * mul
  if bias is not None:
    z = z + bias
  z = z.astype(dtype)
  if activation == "selu":
    return _selu(z, residual=residual)
  return {"elu": _elu, "celu": _celu}[activation](z, alpha, residual=residual)


def layer(x: jax.Array, scale, bias, *, features: tuple[int, ...], reduction: tuple[int, ...],
          groups: int | None = None, epsilon: float, activation: str, alpha: float,
          residual: str, axis_name, dtype, use_fast_variance: bool = True, running=None):
  """What the fused norm modules (linen and nnx) do with their params: ``(y, mean, var)``.

  ``features``: the axes of the params (size-1 elsewhere); ``groups``: the last axis is
  split into that many groups (a group norm), whose statistics are over ``reduction``'s
  other axes and within each group. ``running``: ``(mean, var)`` of the features' shape,
  to normalise with (evaluation mode; then mean and var are returned as None).
  """
  broadcast = [x.shape[i] if i in features else 1 for i in range(x.ndim)]
  scale = None if scale is None else jnp.reshape(scale, broadcast)
  bias = None if bias is None else jnp.reshape(bias, broadcast)
  if dtype is None:
    dtype = jnp.result_type(x, *(v for v in (scale, bias) if v is not None))
  if running is not None:
    mean, var = (jnp.reshape(v, broadcast) for v in running)
    y = normalized_act(x, mean, var, scale, bias, epsilon=epsilon, activation=activation,
                       alpha=alpha, dtype=dtype, residual=residual)
    return y, None, None
  return norm_act(x, scale, bias, axes=reduction, activation=activation, alpha=alpha,
                  epsilon=epsilon, residual=residual, axis_name=axis_name, dtype=dtype,
                  use_fast_variance=use_fast_variance, groups=groups)
