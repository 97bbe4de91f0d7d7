"""Forward values against float64 numpy, jax.nn, and pinned special points."""

from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu

import reference as ref
from helpers import GRID, call, call_jax_nn, flushes_subnormals


def test_values_match_float64_reference_within_two_ulp(case):
  name, alpha = case
  y = call(name, jnp.asarray(GRID), alpha)
  expected = ref.VALUES[name](GRID, 1.0 if alpha is None else alpha)
  assert ref.ulps(y, expected, jnp.float32).max() <= 2.0


def test_values_agree_with_jax_nn(case):
  name, alpha = case
  x = jnp.asarray(GRID)
  np.testing.assert_allclose(call(name, x, alpha), call_jax_nn(name, x, alpha),
                             rtol=1e-6, atol=1e-7)


def test_positive_branch_is_scaled_identity():
  x = jnp.asarray([1e-30, 1e-3, 1.0, 3.5, 1e30], jnp.float32)
  np.testing.assert_array_equal(jelu.elu(x, 2.0), x)
  np.testing.assert_array_equal(jelu.celu(x, 0.5), x)
  # lambda * x rounded once (float32(lambda) * x would round twice).
  np.testing.assert_array_equal(jelu.selu(x),
                                np.float32(ref.SELU_SCALE * np.asarray(x, np.float64)))


def test_special_points_are_pinned():
  x = jnp.asarray([-jnp.inf, -1e30, -1e4, -0.0, 0.0, 1e4, 1e30, jnp.inf], jnp.float32)
  sa = np.float32(ref.SELU_SCALE * ref.SELU_ALPHA)
  big = np.array([1e4, 1e30, np.inf], np.float32)
  s_big = np.float32(ref.SELU_SCALE * big.astype(np.float64))
  np.testing.assert_array_equal(jelu.elu(x, 2.0), np.r_[-2, -2, -2, 0, 0, big])
  np.testing.assert_array_equal(jelu.celu(x, 0.5), np.r_[-0.5, -0.5, -0.5, 0, 0, big])
  np.testing.assert_array_equal(jelu.selu(x), np.r_[-sa, -sa, -sa, 0, 0, s_big])


def test_negative_zero_keeps_its_sign():
  for f in (jelu.elu, jelu.selu, jelu.celu):
    y = f(jnp.float32(-0.0))
    assert y == 0 and np.signbit(y), f.__name__


def test_nan_propagates(name):
  y = call(name, jnp.asarray([jnp.nan, -1.0, jnp.nan, 1.0]))
  np.testing.assert_array_equal(np.isnan(y), [True, False, True, False])


def test_per_channel_alpha_matches_reference():
  x = jnp.asarray(np.linspace(-4, 2, 24, dtype=np.float32).reshape(8, 3))
  alpha = np.array([0.25, 1.0, 3.0], np.float32)
  np.testing.assert_allclose(jelu.elu(x, alpha), ref.elu(x, alpha), rtol=2e-7, atol=1e-7)
  np.testing.assert_allclose(jelu.celu(x, alpha), ref.celu(x, alpha), rtol=3e-7, atol=1e-7)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (2, 3, 4)])
def test_shapes_are_preserved(name, shape):
  x = jnp.full(shape, -0.5, jnp.float32)
  y = call(name, x)
  assert y.shape == shape
  np.testing.assert_allclose(y, ref.VALUES[name](np.asarray(x)), rtol=2e-7)


def test_numpy_arrays_and_python_scalars_are_accepted(name):
  for x in (np.array([-1.0, 2.0]), -1.0, 2, np.float32(-3.0), True):
    np.testing.assert_allclose(call(name, x), ref.VALUES[name](x), rtol=3e-7)


def test_float64_values_under_x64(x64, case):
  name, alpha = case
  x = jnp.asarray(np.linspace(-20, 5, 501))
  assert x.dtype == jnp.float64
  y = call(name, x, alpha)
  assert y.dtype == jnp.float64
  expected = ref.VALUES[name](np.asarray(x), 1.0 if alpha is None else alpha)
  np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-300)


def test_jit_and_eager_agree_bit_for_bit(name):
  x = jnp.asarray(GRID)
  np.testing.assert_array_equal(jax.jit(lambda v: call(name, v))(x), call(name, x))


def test_subnormals_are_treated_as_in_jax_nn():
  # XLA:CPU flushes float32 subnormals to zero in arithmetic and comparisons, so such an x
  # takes the negative branch, whose alpha * x flushes to 0 with x's sign, as jax.nn's
  # does, and the gradient is the slope at 0, alpha. XLA:GPU keeps them: x > 0 selects x,
  # and the negative branch is alpha * x (expm1(x) is x there), slope 1 and alpha.
  # Everywhere the bits are jax.nn's.
  x = jnp.asarray([1e-40, -1e-40], jnp.float32)
  flushed = flushes_subnormals()
  kept = np.asarray(x) * np.asarray([1.0, 2.0], np.float32)  # numpy keeps subnormals
  for ours, theirs in ((jelu.elu(x, 2.0), jax.nn.elu(x, 2.0)), (jelu.selu(x), jax.nn.selu(x))):
    np.testing.assert_array_equal(np.asarray(ours).view(np.uint32),
                                  np.asarray(theirs).view(np.uint32))
    np.testing.assert_array_equal(np.signbit(ours), [False, True])
    assert (ours == 0).all() if flushed else (ours != 0).all()
  np.testing.assert_array_equal(jelu.elu(x, 2.0), [0.0, -0.0] if flushed else kept)
  # CELU's x / alpha flushes too: zeros with x's sign, or x where subnormals are kept.
  celu = jelu.celu(x, 2.0)
  np.testing.assert_array_equal(np.signbit(celu), [False, True])
  np.testing.assert_array_equal(celu, [0.0, -0.0] if flushed else x)
  g = jax.vmap(jax.grad(jelu.elu))(x, jnp.full(2, 2.0))
  g_nn = jax.vmap(jax.grad(jax.nn.elu))(x, jnp.full(2, 2.0))
  np.testing.assert_array_equal(g, [2.0, 2.0] if flushed else [1.0, 2.0])
  np.testing.assert_array_equal(g, g_nn)


class _Wrapped:
  """Anything that hands JAX an array through ``__jax_array__`` (as nnx.Variable does)."""

  def __init__(self, value):
    self.value = value

  def __jax_array__(self):
    return self.value


def test_objects_with_jax_array_are_accepted_as_x_and_alpha():
  # ArrayLike does not name the protocol, hence the casts for the type checker.
  def wrap(value) -> jax.Array:
    return cast(jax.Array, _Wrapped(value))

  x = jnp.asarray(GRID)
  for name in ("elu", "selu", "celu"):
    np.testing.assert_array_equal(call(name, wrap(x)), call(name, x))
  for f in (jelu.elu, jelu.celu):
    np.testing.assert_array_equal(f(x, wrap(jnp.asarray(0.5))), f(x, 0.5))
    np.testing.assert_array_equal(f(wrap(x), wrap(np.float32(2.0))), f(x, 2.0))
  with pytest.raises(TypeError, match="x must be an array or a scalar"):
    jelu.elu(wrap("not an array"))


def test_alpha_of_either_zero_gives_jax_nns_signed_zero_in_any_order():
  x = jnp.asarray([-1.0, -3.0])
  for alpha in (-0.0, 0.0, -0.0):
    ours, theirs = jelu.elu(x, alpha), jax.nn.elu(x, alpha)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs), err_msg=str(alpha))
