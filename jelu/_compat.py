"""What jelu takes from JAX beyond its public API, in one place.

Being a drop-in for jax.nn means returning its result type, weak type included,
and JAX has no public conversion that sets the weak type:
``jax.lax.convert_element_type`` always returns a strongly typed array. The
private ``jax._src.lax.lax._convert_element_type`` does, with the same
signature in every jax the suite runs on (0.9.0, 0.10.2 and 0.12.0.1);
tests/test_dtypes.py pins the weak types it gives.
"""

from __future__ import annotations

from typing import cast

import jax
import jax.numpy as jnp
from jax._src.lax.lax import _convert_element_type
from jax.typing import ArrayLike, DTypeLike


def convert_element_type(x: ArrayLike, dtype: DTypeLike, weak_type: bool) -> jax.Array:
  """``x`` in ``dtype``, weakly typed if ``weak_type``."""
  return cast(jax.Array, _convert_element_type(x, jnp.dtype(dtype), weak_type=weak_type))
