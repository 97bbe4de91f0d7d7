"""A learnable alpha in linen: a param named "alpha" that training moves."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jelu
from jelu import linen as jnn

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
