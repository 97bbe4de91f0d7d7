"""AlphaDropout keeps mean 0 and variance 1, drops `rate` of the units, and follows the paper."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu
from jelu import linen as jnn

import reference as ref

N = 1_000_000
X = jax.random.normal(jax.random.key(0), (N,))
SATURATION = -ref.SELU_SCALE * ref.SELU_ALPHA


def paper_affine(rate):
  """a and b from Klambauer et al. (2017), section 3, in float64."""
  q = 1.0 - rate
  a = 1.0 / np.sqrt(q + SATURATION**2 * q * (1 - q))
  return a, -a * (1 - q) * SATURATION


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2, 0.5])
def test_unit_normal_input_keeps_mean_0_and_std_1(rate):
  y = jelu.alpha_dropout(X, rate, key=jax.random.key(1))
  assert abs(float(y.mean())) < 0.01
  assert abs(float(y.std()) - 1.0) < 0.01


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2, 0.5])
def test_dropped_fraction_is_rate_and_values_follow_the_paper(rate):
  y = np.asarray(jelu.alpha_dropout(X, rate, key=jax.random.key(2)), np.float64)
  a, b = paper_affine(rate)
  dropped = np.isclose(y, a * SATURATION + b, rtol=0, atol=1e-6)
  assert abs(dropped.mean() - rate) < 0.01
  np.testing.assert_allclose(y[~dropped], a * np.asarray(X, np.float64)[~dropped] + b,
                             rtol=1e-6, atol=1e-6)


def test_keys_decide_the_mask():
  y1 = jelu.alpha_dropout(X[:1000], 0.3, key=jax.random.key(3))
  y2 = jelu.alpha_dropout(X[:1000], 0.3, key=jax.random.key(3))
  y3 = jelu.alpha_dropout(X[:1000], 0.3, key=jax.random.key(4))
  np.testing.assert_array_equal(y1, y2)
  assert (np.asarray(y1) != np.asarray(y3)).sum() > 100


def test_rate_zero_is_the_identity():
  np.testing.assert_array_equal(jelu.alpha_dropout(X[:100], 0.0, key=jax.random.key(0)), X[:100])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_output_dtype_is_input_dtype(dtype):
  y = jelu.alpha_dropout(X[:100].astype(dtype), 0.2, key=jax.random.key(0))
  assert y.dtype == dtype


@pytest.mark.parametrize("rate", [-0.1, 1.0 + 1e-9, 1.5, float("nan")])
def test_rate_outside_0_1_raises_value_error(rate):
  with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
    jelu.alpha_dropout(X[:10], rate, key=jax.random.key(0))


def test_rate_one_drops_every_unit_to_zero_with_zero_gradient():
  x = jnp.asarray([-2.0, 0.0, 3.0, np.inf, -np.inf, np.nan])
  y = jelu.alpha_dropout(x, 1.0, key=jax.random.key(0))
  assert y.dtype == x.dtype
  # No input value reaches the output, NaN and inf included, as for a dropped unit.
  np.testing.assert_array_equal(y, np.zeros(6))
  g = jax.grad(lambda v: jelu.alpha_dropout(v, 1.0, key=jax.random.key(0)).sum())(x[:3])
  np.testing.assert_array_equal(g, np.zeros(3))


def test_non_float_input_and_rate_raise_type_error():
  with pytest.raises(TypeError, match="floating point"):
    jelu.alpha_dropout(jnp.ones(3, jnp.int32), 0.1, key=jax.random.key(0))
  with pytest.raises(TypeError, match="rate must be a python float"):
    jelu.alpha_dropout(X[:10], "0.1", key=jax.random.key(0))  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("key", [0, None, np.array([0, 1], np.int32), jnp.ones(2)])
def test_a_key_that_is_not_a_prng_key_raises_type_error_naming_key(key):
  with pytest.raises(TypeError, match="alpha_dropout: key must be a JAX PRNG key"):
    jelu.alpha_dropout(X[:10], 0.1, key=key)


@pytest.mark.parametrize("key", [jax.random.PRNGKey(3), np.array([0, 3], np.uint32)])
def test_a_raw_uint32_key_is_accepted(key):
  y = np.asarray(jelu.alpha_dropout(X[:1000], 0.3, key=key), np.float64)
  a, b = paper_affine(0.3)
  assert 0.25 < np.isclose(y, a * SATURATION + b, rtol=0, atol=1e-6).mean() < 0.35


@pytest.mark.parametrize("dims", [(1,), (-2,), (0, 2), (2, 0, -1)])
def test_broadcast_dims_share_the_mask_along_those_axes(dims):
  x = jnp.ones((6, 50, 8))
  y = np.asarray(jelu.alpha_dropout(x, 0.5, key=jax.random.key(9), broadcast_dims=dims))
  a, b = paper_affine(0.5)
  dropped = np.isclose(y, a * SATURATION + b, rtol=0, atol=1e-6)
  np.testing.assert_allclose(y[~dropped], a + b, rtol=1e-6)  # kept ones: a * 1 + b
  shared = {d % 3 for d in dims}
  for axis in range(3):
    spread = dropped.any(axis=axis) != dropped.all(axis=axis)
    # Along a shared axis the mask is constant; along the others it varies.
    assert not spread.any() if axis in shared else spread.any()


def test_broadcast_dims_keep_mean_0_and_std_1():
  x = jax.random.normal(jax.random.key(0), (1000, 20, 50))
  y = jelu.alpha_dropout(x, 0.2, key=jax.random.key(1), broadcast_dims=(1,))
  assert abs(float(y.mean())) < 0.01
  assert abs(float(y.std()) - 1.0) < 0.01


@pytest.mark.parametrize("dims, error, message", [
    ((3,), ValueError, "broadcast_dims has axis 3"),
    ((-4,), ValueError, "broadcast_dims has axis -4"),
    ((1.0,), TypeError, "broadcast_dims must be a sequence of ints"),
    (1, TypeError, "broadcast_dims must be a sequence of ints"),
])
def test_bad_broadcast_dims_raise(dims, error, message):
  with pytest.raises(error, match=message):
    jelu.alpha_dropout(jnp.ones((2, 3, 4)), 0.1, key=jax.random.key(0), broadcast_dims=dims)


def test_gradient_is_the_affine_scale_on_kept_units():
  x = X[:1000]
  g = jax.grad(lambda v: jelu.alpha_dropout(v, 0.2, key=jax.random.key(5)).sum())(x)
  a, _ = paper_affine(0.2)
  kept = np.asarray(g) != 0
  assert 0.75 < kept.mean() < 0.85
  np.testing.assert_allclose(np.asarray(g)[kept], a, rtol=1e-6)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_linen_rate_is_checked_when_the_module_is_built(rate):
  with pytest.raises(ValueError, match=r"AlphaDropout: rate must be in \[0, 1\]"):
    jnn.AlphaDropout(rate)


def test_linen_rate_one_returns_zeros_without_a_key():
  np.testing.assert_array_equal(
      jnn.AlphaDropout(1.0).apply({}, X[:10], deterministic=False), np.zeros(10))


def test_linen_broadcast_dims_equal_the_function_with_the_same_key():
  x, key = X[:600].reshape(4, 30, 5), jax.random.key(8)
  y = jnn.AlphaDropout(0.3, broadcast_dims=(1,)).apply({}, x, deterministic=False, rng=key)
  np.testing.assert_array_equal(
      y, jelu.alpha_dropout(x, 0.3, key=key, broadcast_dims=(1,)))


def test_linen_rng_that_is_not_a_key_raises_type_error_naming_rng():
  with pytest.raises(TypeError, match="AlphaDropout: rng must be a JAX PRNG key"):
    jnn.AlphaDropout(0.3).apply({}, X[:10], deterministic=False, rng=0)


def test_linen_deterministic_is_the_identity_given_either_way():
  x = X[:100].reshape(10, 10)
  np.testing.assert_array_equal(jnn.AlphaDropout(0.5, deterministic=True).apply({}, x), x)
  np.testing.assert_array_equal(jnn.AlphaDropout(0.5).apply({}, x, deterministic=True), x)


def test_linen_equals_the_function_with_the_same_key():
  x, key = X[:100], jax.random.key(7)
  y = jnn.AlphaDropout(0.3).apply({}, x, deterministic=False, rng=key)
  np.testing.assert_array_equal(y, jelu.alpha_dropout(x, 0.3, key=key))


def test_linen_draws_its_key_from_the_dropout_collection():
  x = X[:1000]
  layer = jnn.AlphaDropout(0.3, deterministic=False)
  y1 = layer.apply({}, x, rngs={"dropout": jax.random.key(1)})
  y2 = layer.apply({}, x, rngs={"dropout": jax.random.key(2)})
  assert (np.asarray(y1) != np.asarray(y2)).sum() > 100
  with pytest.raises(Exception, match="dropout"):
    layer.apply({}, x)
