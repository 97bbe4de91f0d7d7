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


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_rate_outside_0_1_raises_value_error(rate):
  with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
    jelu.alpha_dropout(X[:10], rate, key=jax.random.key(0))
  with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
    jnn.AlphaDropout(rate).apply({}, X[:10], deterministic=True)


def test_non_float_input_and_rate_raise_type_error():
  with pytest.raises(TypeError, match="floating point"):
    jelu.alpha_dropout(jnp.ones(3, jnp.int32), 0.1, key=jax.random.key(0))
  with pytest.raises(TypeError, match="rate must be a python float"):
    jelu.alpha_dropout(X[:10], "0.1", key=jax.random.key(0))  # pyright: ignore[reportArgumentType]


def test_gradient_is_the_affine_scale_on_kept_units():
  x = X[:1000]
  g = jax.grad(lambda v: jelu.alpha_dropout(v, 0.2, key=jax.random.key(5)).sum())(x)
  a, _ = paper_affine(0.2)
  kept = np.asarray(g) != 0
  assert 0.75 < kept.mean() < 0.85
  np.testing.assert_allclose(np.asarray(g)[kept], a, rtol=1e-6)


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
