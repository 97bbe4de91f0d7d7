"""A learnable alpha, scalar or per channel: a param named "alpha" that training moves."""

# flax types `Module.apply` as output-or-(output, state) and `init`'s variables as a mapping,
# and nnx's ELU.alpha as a float or a Param; these tests index and call what they know they hold.
# pyright: reportAttributeAccessIssue=false, reportIndexIssue=false, reportArgumentType=false

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jelu
from jelu import linen as jnn
from jelu import nnx as jnnx

import reference as ref

X = jnp.asarray(np.linspace(-3, 2, 32, dtype=np.float32).reshape(8, 4))


def test_learnable_elu_owns_a_scalar_alpha_param_initialised_to_alpha():
  variables = jnn.ELU(alpha=0.7, learnable=True).init(jax.random.key(0), X)
  alpha = jnp.asarray(variables["params"]["alpha"])
  assert alpha.shape == () and alpha.dtype == jnp.float32
  np.testing.assert_allclose(alpha, 0.7)
  np.testing.assert_array_equal(jnn.ELU(0.7, learnable=True).apply(variables, X),
                                jelu.elu(X, jnp.float32(0.7)))


def test_learnable_alpha_gradient_is_the_analytic_one():
  layer = jnn.ELU(alpha=1.3, learnable=True)
  variables = layer.init(jax.random.key(0), X)
  g = jax.grad(lambda v: jnp.sum(jnp.asarray(layer.apply(v, X))))(variables)["params"]["alpha"]
  np.testing.assert_allclose(g, ref.da_elu(np.asarray(X), 1.3).sum(), rtol=1e-5)
  assert float(g) != 0


class Net(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = jnn.ELU(alpha=1.0, learnable=True)(nn.Dense(16)(x))
    return nn.Dense(1)(x)


def test_learnable_alpha_changes_under_a_few_optax_steps():
  model = Net()
  params = model.init(jax.random.key(0), X)["params"]
  target = jnp.cos(X.sum(axis=1, keepdims=True))
  opt = optax.adam(1e-2)
  state = opt.init(params)

  @jax.jit
  def step(params, state):
    loss, grads = jax.value_and_grad(
        lambda p: jnp.mean((jnp.asarray(model.apply({"params": p}, X)) - target) ** 2))(params)
    updates, state = opt.update(grads, state)
    return optax.apply_updates(params, updates), state, loss

  before = float(jnp.asarray(params["ELU_0"]["alpha"]))
  losses = []
  for _ in range(10):
    params, state, loss = step(params, state)
    losses.append(float(loss))
  assert float(jnp.asarray(params["ELU_0"]["alpha"])) != before
  assert losses[-1] < losses[0]


def test_fixed_alpha_elu_has_no_params():
  assert jnn.ELU(alpha=0.7).init(jax.random.key(0), X) == {}


# Per-channel: one alpha per feature (the last axis), each with its own gradient.
ALPHAS = np.asarray([0.25, 0.5, 1.0, 2.0])  # one per column of X


def test_linen_per_channel_alpha_is_a_vector_param_initialised_to_alpha():
  variables = jnn.ELU(0.7, learnable=True, per_channel=True).init(jax.random.key(0), X)
  alpha = variables["params"]["alpha"]
  assert alpha.shape == (X.shape[-1],) and alpha.dtype == jnp.float32
  np.testing.assert_array_equal(alpha, np.full(4, np.float32(0.7)))


def test_nnx_per_channel_alpha_is_a_vector_param_initialised_to_alpha():
  alpha = jnnx.ELU(0.7, learnable=True, per_channel=True, features=4).alpha
  assert isinstance(alpha, nnx.Param)
  np.testing.assert_array_equal(alpha[...], np.full(4, np.float32(0.7)))


def linen_per_channel(x, alphas):
  variables = {"params": {"alpha": jnp.asarray(alphas, jnp.float32)}}
  return jnn.ELU(learnable=True, per_channel=True).apply(variables, x)


def nnx_per_channel(x, alphas):
  layer = jnnx.ELU(learnable=True, per_channel=True, features=len(alphas))
  layer.alpha[...] = jnp.asarray(alphas, jnp.float32)
  return layer(x)


@pytest.mark.parametrize("apply", [linen_per_channel, nnx_per_channel], ids=["linen", "nnx"])
def test_per_channel_values_match_float64_reference(apply):
  y = apply(X, ALPHAS)
  np.testing.assert_allclose(y, ref.elu(X, ALPHAS), rtol=2e-7, atol=1e-7)


def test_linen_per_channel_gradient_is_the_analytic_one_per_channel():
  layer = jnn.ELU(learnable=True, per_channel=True)
  variables = {"params": {"alpha": jnp.asarray(ALPHAS, jnp.float32)}}
  w = jnp.arange(X.size, dtype=jnp.float32).reshape(X.shape) / X.size  # distinct cotangents
  g = jax.grad(lambda v: (layer.apply(v, X) * w).sum())(variables)["params"]["alpha"]
  expected = (np.asarray(w, np.float64) * ref.da_elu(X, ALPHAS)).sum(axis=0)
  assert g.shape == (4,)
  np.testing.assert_allclose(g, expected, rtol=1e-5)
  assert len(set(np.asarray(g).tolist())) == 4  # each channel gets its own gradient


def test_nnx_per_channel_gradient_is_the_analytic_one_per_channel():
  layer = jnnx.ELU(learnable=True, per_channel=True, features=4)
  layer.alpha[...] = jnp.asarray(ALPHAS, jnp.float32)
  g = nnx.grad(lambda m: m(X).sum())(layer).alpha[...]
  np.testing.assert_allclose(g, ref.da_elu(X, ALPHAS).sum(axis=0), rtol=1e-5)


def test_linen_per_channel_alpha_follows_the_input_width():
  variables = jnn.ELU(learnable=True, per_channel=True).init(jax.random.key(0), jnp.ones((2, 7)))
  assert variables["params"]["alpha"].shape == (7,)


# positive=True: alpha = softplus(raw_alpha), so training cannot take it below 0.

def _softplus64(v):
  return np.logaddexp(np.float64(v), 0.0)


@pytest.mark.parametrize("alpha", [1e-3, 0.7, 1.0, 30.0])
def test_positive_alpha_starts_at_alpha_and_gives_its_values(alpha):
  layer = jnn.ELU(alpha, learnable=True, positive=True)
  variables = layer.init(jax.random.key(0), X)
  assert set(variables["params"]) == {"raw_alpha"}
  raw = np.asarray(variables["params"]["raw_alpha"])
  np.testing.assert_allclose(_softplus64(raw), alpha, rtol=1e-6)
  nnx_layer = jnnx.ELU(alpha, learnable=True, positive=True)
  np.testing.assert_array_equal(nnx_layer.raw_alpha[...], raw)
  used = jax.nn.softplus(jnp.float32(raw))
  np.testing.assert_array_equal(layer.apply(variables, X), jelu.elu(X, used))
  np.testing.assert_array_equal(nnx_layer(X), jelu.elu(X, used))


@pytest.mark.parametrize("per_channel", [False, True])
def test_positive_alpha_gradient_is_the_chain_rule_through_softplus(per_channel):
  layer = jnn.ELU(1.3, learnable=True, per_channel=per_channel, positive=True)
  variables = layer.init(jax.random.key(0), X)
  g = jax.grad(lambda v: jnp.sum(jnp.asarray(layer.apply(v, X))))(variables)
  raw = np.asarray(variables["params"]["raw_alpha"], np.float64)
  alpha = _softplus64(raw)
  per_element = ref.da_elu(np.asarray(X, np.float64), alpha)
  expected = (per_element.sum(axis=0) if per_channel else per_element.sum()) / (1 + np.exp(-raw))
  np.testing.assert_allclose(g["params"]["raw_alpha"], expected, rtol=1e-5)


def test_a_raw_alpha_driven_far_below_zero_keeps_finite_gradients():
  # Where a plain learnable alpha below 0 makes every gradient NaN, the softplus keeps
  # alpha > 0: gradients stay finite at any raw value.
  layer = jnn.ELU(learnable=True, positive=True)
  for raw in (-5.0, -30.0, -80.0):
    variables = {"params": {"raw_alpha": jnp.float32(raw)}}
    grads = jax.grad(lambda v, x: jnp.sum(jnp.asarray(layer.apply(v, x)) ** 2),
                     argnums=(0, 1))(variables, X)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(grads)), raw


def test_a_negative_plain_learnable_alpha_gives_nan_gradients():
  # What positive=True is for, as the docstrings say.
  layer = jnn.ELU(learnable=True)
  grads = jax.grad(lambda x: jnp.sum(jnp.asarray(layer.apply(
      {"params": {"alpha": jnp.float32(-0.5)}}, x))))(X)
  assert np.all(np.isnan(np.asarray(grads)))


@pytest.mark.parametrize("make, message", [
    (lambda: jnn.ELU(positive=True), "positive=True needs learnable=True"),
    (lambda: jnnx.ELU(positive=True), "positive=True needs learnable=True"),
    (lambda: jnn.ELU(0.0, learnable=True, positive=True), "initial alpha must be > 0"),
    (lambda: jnnx.ELU(0.0, learnable=True, positive=True), "initial alpha must be > 0"),
])
def test_positive_without_learnable_or_from_zero_raises(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_positive_bfloat16_input_keeps_its_dtype():
  x = X.astype(jnp.bfloat16)
  layer = jnn.ELU(0.5, learnable=True, positive=True)
  y, variables = layer.init_with_output(jax.random.key(0), x)
  assert y.dtype == jnp.bfloat16
  assert variables["params"]["raw_alpha"].dtype == jnp.float32
