"""Every function, dtype and residual under ``jax_enable_checks``, which JAX's own tests use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu

from helpers import GRID


@pytest.mark.parametrize("residual", ["output", "input"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_values_and_gradients_pass_jaxs_internal_checks(case, dtype, residual):
  name, alpha = case
  fn = getattr(jelu, name)

  def f(v):
    return fn(v, residual=residual) if alpha is None else fn(v, alpha, residual=residual)

  x = jnp.asarray(GRID, dtype)
  jax.clear_caches()  # traced anew, with the checks
  with jax.enable_checks(True):
    y = f(x)
    g = jax.grad(lambda v: f(v).astype(jnp.float32).sum())(x)
  jax.clear_caches()
  np.testing.assert_array_equal(y, f(x))
  assert g.dtype == dtype and g.shape == x.shape
