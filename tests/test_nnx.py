"""flax.nnx modules equal the functions, train with nnx.grad, and follow nnx.Dropout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jelu
from jelu import nnx as jnnx

X = jnp.asarray(np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6))


def test_activation_modules_equal_the_functions():
  np.testing.assert_array_equal(jnnx.ELU()(X), jelu.elu(X))
  np.testing.assert_array_equal(jnnx.ELU(0.5)(X), jelu.elu(X, 0.5))
  np.testing.assert_array_equal(jnnx.SELU()(X), jelu.selu(X))
  np.testing.assert_array_equal(jnnx.CELU(2.0)(X), jelu.celu(X, 2.0))


def test_alpha_dropout_equals_the_function_with_the_same_key():
  key = jax.random.key(3)
  y = jnnx.AlphaDropout(0.3)(X, rngs=key)
  np.testing.assert_array_equal(y, jelu.alpha_dropout(X, 0.3, key=key))


def make_model(rngs):
  return nnx.Sequential(
      nnx.Linear(6, 16, kernel_init=nnx.initializers.lecun_normal(), rngs=rngs),
      jnnx.SELU(),
      jnnx.AlphaDropout(0.2, rngs=rngs),
      nnx.Linear(16, 16, rngs=rngs),
      jnnx.ELU(learnable=True),
      nnx.Linear(16, 1, rngs=rngs),
  )


def test_eval_makes_alpha_dropout_the_identity_and_train_restores_it():
  model = make_model(nnx.Rngs(0))
  model.eval()
  assert model.layers[2].deterministic is True
  np.testing.assert_array_equal(model(X), model(X))
  without_dropout = nnx.Sequential(*[m for i, m in enumerate(model.layers) if i != 2])
  np.testing.assert_array_equal(model(X), without_dropout(X))
  model.train()
  assert model.layers[2].deterministic is False
  assert not np.array_equal(model(X), model(X))  # a fresh mask each call


def test_nnx_grad_through_a_sequential_reaches_every_param():
  model = make_model(nnx.Rngs(0))

  def loss(m):
    return jnp.mean(m(X) ** 2)

  grads = nnx.grad(loss)(model)
  leaves = jax.tree.leaves(grads)
  assert len(leaves) == 7  # three kernels, three biases, the learnable alpha
  assert all(np.all(np.isfinite(g)) for g in leaves)
  assert float(jnp.abs(grads.layers[4].alpha[...])) > 0


def test_learnable_alpha_moves_under_an_optimizer():
  optax = pytest.importorskip("optax")
  model = make_model(nnx.Rngs(1))
  optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
  target = jnp.sin(X.sum(axis=1, keepdims=True))

  @nnx.jit
  def step(m, opt):
    loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(X) - target) ** 2))(m)
    opt.update(m, grads)
    return loss

  before = float(model.layers[4].alpha[...])
  losses = [float(step(model, optimizer)) for _ in range(20)]
  assert float(model.layers[4].alpha[...]) != before
  assert losses[-1] < losses[0]


def test_alpha_dropout_without_rngs_says_so():
  with pytest.raises(ValueError, match="no rngs"):
    jnnx.AlphaDropout(0.1)(X)


def test_alpha_dropout_rate_is_checked_at_construction():
  with pytest.raises(ValueError, match=r"\[0, 1\)"):
    jnnx.AlphaDropout(1.0)
