"""Argument checks shared by the functions and the flax modules.

Each check raises a TypeError or ValueError whose message starts with the
caller's name and names the argument. Values are checked on the host, before
tracing, where they are on the host (python numbers, numpy arrays); a jax
array's value is not read (under a transformation it has none, outside one
reading it waits for the device). Dtypes and shapes are checked when the
function is traced (`check_real_dtype`, `check_alpha_shape`), so an eager call
with jax arrays pays for none of it after the first.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jax.typing import ArrayLike

# Exact types seen to be jax arrays with a value, tracers, and numpy arrays or
# scalars: a set lookup costs a fifth of an isinstance check against the
# jax.Array ABC, and eager calls pay for the checks on every call.
_JAX_TYPES: set[type] = set()
_TRACER_TYPES: set[type] = set()
_NUMPY_TYPES: set[type] = set()
_PYTHON_REALS = (float, int, bool)


def _is_jax_array(x: object) -> bool:
  """Whether ``x``'s type was seen to be a jax array or a tracer (see `_remember_array_type`)."""
  return type(x) in _JAX_TYPES or type(x) in _TRACER_TYPES


def _remember_array_type(x: object) -> bool:
  """Whether ``x`` is a jax array, tracer or numpy array, its type remembered if so."""
  kind = type(x)
  if isinstance(x, Tracer):
    _TRACER_TYPES.add(kind)
  elif isinstance(x, jax.Array):
    _JAX_TYPES.add(kind)
  elif isinstance(x, (np.ndarray, np.generic)):
    _NUMPY_TYPES.add(kind)
  else:
    return False
  return True


def check_array(name: str, x: ArrayLike, arg: str = "x") -> ArrayLike:
  """Checks that ``x`` is an array or a real python number, and returns it.

  An object with ``__jax_array__`` (an ``nnx.Variable``, say) is accepted as
  jax.numpy accepts it: what that method returns is checked and returned. A
  numpy array's dtype is checked here, a jax array's when the function is
  traced (`check_real_dtype`).
  """
  if type(x) in _PYTHON_REALS or _is_jax_array(x):
    return x
  if type(x) in _NUMPY_TYPES or _remember_array_type(x):
    if type(x) in _NUMPY_TYPES:  # a numpy string or object array is not traced: check here
      check_real_dtype(name, x.dtype, arg)  # pyright: ignore[reportAttributeAccessIssue]
    return x
  if hasattr(x, "__jax_array__"):
    return check_array(name, x.__jax_array__(), arg)  # pyright: ignore[reportAttributeAccessIssue]
  if isinstance(x, numbers.Number) and not isinstance(x, str):
    check_real_dtype(name, np.result_type(x), arg)
    return x
  raise TypeError(f"{name}: {arg} must be an array or a scalar, got {type(x).__name__}.")


def is_concrete_array(x: object) -> bool:
  """Whether ``x`` is an array with a value: a jax array that is not a tracer, or numpy's."""
  return type(x) in _JAX_TYPES or type(x) in _NUMPY_TYPES


_REAL_DTYPES: dict[np.dtype, bool] = {}


def check_real_dtype(name: str, dtype: np.dtype, arg: str = "x") -> None:
  """Checks that ``dtype`` is real: floating, integer or bool."""
  real = _REAL_DTYPES.get(dtype)
  if real is None:
    real = _REAL_DTYPES[dtype] = bool(
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
        or jnp.issubdtype(dtype, jnp.bool_))
  if not real:
    raise TypeError(f"{name}: {arg} must be real (float, integer or bool), got {dtype}.")


# What the backward pass may keep: the activation's output or its input.
RESIDUALS = ("output", "input")


def check_residual(name: str, residual: str) -> None:
  """Checks the ``residual`` argument: what the backward pass keeps, "output" or "input"."""
  if residual not in RESIDUALS:
    raise ValueError(f"{name}: residual must be one of {RESIDUALS}, got {residual!r}.")


def check_alpha_value(name: str, alpha: ArrayLike, *, celu: bool) -> ArrayLike:
  """Checks that an ``alpha`` held on the host is finite and ``>= 0`` (``> 0`` for CELU).

  A python number or numpy array is checked. A jax array is not: under a
  transformation it is a tracer with no value, and outside one reading it would
  copy it from the device and wait for it; the kernel's docstring says what a
  bad one gives. Returns ``alpha`` (unwrapped, as `check_array`).
  """
  kind = type(alpha)
  if kind is float or kind is int:
    value = cast(float, alpha)
    if math.isfinite(value) and (value > 0 if celu else value >= 0):
      return alpha
    raise ValueError(f"{name}: alpha must be finite and {'> 0' if celu else '>= 0'}, "
                     f"got {alpha!r}.")
  if _is_jax_array(alpha):  # the common case, without a call to check_array
    return alpha
  alpha = check_array(name, alpha, arg="alpha")  # unwraps __jax_array__, learns new types
  if _is_jax_array(alpha):
    return alpha
  # numpy, python bools and subclasses of python numbers (an IntEnum, say).
  values = np.asarray(alpha)
  check_real_dtype(name, values.dtype, arg="alpha")
  bound = "> 0" if celu else ">= 0"
  ok = np.isfinite(values) & (values > 0 if celu else values >= 0)
  if not np.all(ok):
    if values.ndim == 0:
      raise ValueError(f"{name}: alpha must be finite and {bound}, got {values!r}.")
    bad = np.argwhere(~ok)
    first = tuple(int(i) for i in bad[0])
    raise ValueError(f"{name}: alpha must be finite and {bound}; {len(bad)} of {values.size} "
                     f"entries are not, the first at index {first}: {values[first].item()!r}.")
  return alpha


def _maybe_equal(a, b) -> bool:
  """Whether two dimensions may be equal; a symbolic one (jax.export) that cannot be
  compared here is left to tracing, which checks the broadcast itself."""
  try:
    return bool(a == b)
  except Exception:  # jax's InconclusiveDimensionOperation
    return True


def _broadcasts_to(a_shape: tuple, x_shape: tuple) -> bool:
  """Whether numpy broadcasting takes ``a_shape`` to ``x_shape`` without growing it."""
  if a_shape == () or a_shape == x_shape:
    return True
  if len(a_shape) > len(x_shape):
    return False
  return all(_maybe_equal(a, 1) or _maybe_equal(a, x)
             for a, x in zip(reversed(a_shape), reversed(x_shape), strict=False))


def check_alpha_shape(name: str, x_shape: tuple, a_shape: tuple) -> None:
  """Checks that alpha's shape broadcasts to x's without growing it (at trace time)."""
  if not _broadcasts_to(a_shape, x_shape):
    raise ValueError(
        f"{name}: alpha of shape {a_shape} does not broadcast to x of shape {x_shape}.")


def check_rate(name: str, rate: float) -> None:
  """Checks that a dropout ``rate`` is a python real number in ``[0, 1]``."""
  if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
    raise TypeError(f"{name}: rate must be a python float, got {type(rate).__name__}.")
  if not 0.0 <= rate <= 1.0:
    raise ValueError(f"{name}: rate must be in [0, 1], got {rate}.")


def check_key(name: str, key: object, arg: str = "key") -> None:
  """Checks that ``key`` is a JAX PRNG key: a typed key array or a raw uint32 one."""
  if not isinstance(key, (jax.Array, np.ndarray)):
    raise TypeError(f"{name}: {arg} must be a JAX PRNG key (jax.random.key), "
                    f"got {type(key).__name__}.")
  if not (jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or key.dtype == jnp.uint32):
    raise TypeError(f"{name}: {arg} must be a JAX PRNG key (jax.random.key), "
                    f"got an array of dtype {key.dtype}.")


def normalize_axes(name: str, axes: Sequence[int], ndim: int, arg: str) -> tuple[int, ...]:
  """Returns ``axes`` as sorted, distinct, non-negative ints, checked against ``ndim``."""
  if isinstance(axes, (str, bytes)) or not isinstance(axes, Sequence):
    raise TypeError(f"{name}: {arg} must be a sequence of ints, got {type(axes).__name__}.")
  out = set()
  for axis in axes:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
      raise TypeError(f"{name}: {arg} must be a sequence of ints, got {axis!r} in it.")
    if not -ndim <= axis < ndim:
      raise ValueError(f"{name}: {arg} has axis {axis}, out of range for a {ndim}-d input.")
    out.add(int(axis) % ndim)
  return tuple(sorted(out))


def check_learnable(name: str, alpha: float, *, learnable: bool, per_channel: bool,
                    positive: bool) -> None:
  """Checks the learnable-alpha options of the ELU modules, which need ``learnable=True``."""
  for option, on in (("per_channel", per_channel), ("positive", positive)):
    if on and not learnable:
      raise ValueError(f"{name}: {option}=True needs learnable=True (for a fixed alpha, "
                       f"call jelu.elu(x, alpha)).")
  if positive and not alpha > 0:
    raise ValueError(f"{name}: positive=True learns alpha as a softplus, which is > 0: "
                     f"the initial alpha must be > 0, got {alpha!r}.")


def raw_alpha(alpha: float) -> float:
  """The softplus inverse of ``alpha``: the initial param of ``positive=True``."""
  return alpha + math.log(-math.expm1(-alpha))


def learned_alpha(param: jax.Array, x: jax.Array, positive: bool) -> jax.Array:
  """A learnable alpha as the activation takes it: the softplus of the param if
  ``positive``, cast to a floating-point ``x``'s dtype, as ``flax.linen.PReLU`` does."""
  alpha = jax.nn.softplus(param) if positive else param
  if jnp.issubdtype(jnp.result_type(x), jnp.floating):
    alpha = alpha.astype(jnp.result_type(x))
  return alpha


def check_norm_act(name: str, activation: str, alpha: float, residual: str,
                   flax_kwargs: Mapping[str, object] | None = None) -> None:
  """Checks a fused norm's activation, alpha and residual, and flax arguments it lacks."""
  if activation not in ("elu", "selu", "celu"):
    raise ValueError(f"{name}: activation must be 'elu', 'selu' or 'celu', got {activation!r}.")
  check_alpha_value(name, alpha, celu=activation == "celu")
  check_residual(name, residual)
  if (flax_kwargs or {}).get("axis_index_groups") is not None:
    raise ValueError(f"{name}: axis_index_groups is not supported; statistics are averaged "
                     "over the whole axis_name.")


def channel_groups(name: str, channels: int, num_groups: int | None,
                   group_size: int | None) -> int:
  """The number of groups of a group norm, from exactly one of its two fields."""
  if (num_groups is None) == (group_size is None):
    raise ValueError(f"{name}: give exactly one of num_groups and group_size (pass "
                     f"num_groups=None with group_size).")
  groups = channels // group_size if group_size is not None else num_groups
  if not groups or groups <= 0 or channels % groups or (
      group_size is not None and channels % group_size):
    split = f"groups of {group_size}" if group_size is not None else f"{num_groups} groups"
    raise ValueError(f"{name}: {channels} channels do not split into {split}.")
  return groups


def group_reduction(name: str, ndim: int, reduction_axes) -> tuple[int, ...]:
  """A group norm's reduction axes: every axis but the first by default; the last included."""
  if reduction_axes is None:
    return tuple(range(1, ndim))
  axes = tuple(sorted(ax % ndim for ax in (
      (reduction_axes,) if isinstance(reduction_axes, int) else reduction_axes)))
  if axes[-1] != ndim - 1:
    raise ValueError(f"{name}: the reduction axes must include the last, the feature axis; "
                     f"got {reduction_axes}.")
  return axes
