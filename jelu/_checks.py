"""Argument checks shared by the functions and the flax modules.

Each check runs on the host, before tracing, and raises a TypeError or
ValueError whose message starts with the caller's name and names the argument.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jax.typing import ArrayLike


def check_array(name: str, x: ArrayLike, arg: str = "x") -> None:
  """Checks that ``x`` is a real (float, integer or bool) array or scalar."""
  if isinstance(x, str) or not isinstance(
      x, (jax.Array, np.ndarray, np.generic, numbers.Number)):
    raise TypeError(
        f"{name}: {arg} must be an array or a scalar, got {type(x).__name__}.")
  dtype = jnp.result_type(x)
  if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
          or jnp.issubdtype(dtype, jnp.bool_)):
    raise TypeError(f"{name}: {arg} must be real (float, integer or bool), got {dtype}.")


def check_residual(name: str, residual: str) -> None:
  """Checks the ``residual`` argument: what the backward pass keeps, "output" or "input"."""
  if residual not in ("output", "input"):
    raise ValueError(f"{name}: residual must be one of ('output', 'input'), got {residual!r}.")


def check_alpha_value(name: str, alpha: ArrayLike, *, celu: bool) -> None:
  """Checks that a concrete ``alpha`` is finite and ``>= 0`` (``> 0`` for CELU).

  A traced alpha cannot be inspected and passes unchecked.
  """
  check_array(name, alpha, arg="alpha")
  if isinstance(alpha, Tracer):
    return
  values = np.asarray(alpha)
  bound = "> 0" if celu else ">= 0"
  ok = np.isfinite(values) & (values > 0 if celu else values >= 0)
  if not np.all(ok):
    if values.ndim == 0:
      raise ValueError(f"{name}: alpha must be finite and {bound}, got {values!r}.")
    bad = np.argwhere(~ok)
    first = tuple(int(i) for i in bad[0])
    raise ValueError(f"{name}: alpha must be finite and {bound}; {len(bad)} of {values.size} "
                     f"entries are not, the first at index {first}: {values[first].item()!r}.")


def _maybe_equal(a, b) -> bool:
  """Whether two dimensions may be equal; a symbolic one (jax.export) that cannot be
  compared here is left to tracing, which checks the broadcast itself."""
  try:
    return bool(a == b)
  except Exception:  # jax's InconclusiveDimensionOperation
    return True


def _broadcasts_to(a_shape: tuple, x_shape: tuple) -> bool:
  """Whether numpy broadcasting takes ``a_shape`` to ``x_shape`` without growing it."""
  if len(a_shape) > len(x_shape):
    return False
  return all(_maybe_equal(a, 1) or _maybe_equal(a, x)
             for a, x in zip(reversed(a_shape), reversed(x_shape), strict=False))


def check_alpha(name: str, x: ArrayLike, alpha: ArrayLike, *, celu: bool) -> None:
  """Checks ``alpha``'s type, that it broadcasts to ``x`` without growing it, and its values."""
  check_array(name, alpha, arg="alpha")
  x_shape, a_shape = np.shape(x), np.shape(alpha)
  if not _broadcasts_to(a_shape, x_shape):
    raise ValueError(
        f"{name}: alpha of shape {a_shape} does not broadcast to x of shape {x_shape}.")
  check_alpha_value(name, alpha, celu=celu)


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
