"""flax.nnx modules equal the functions, train with nnx.grad, and follow nnx.Dropout."""

from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jelu
from jelu import nnx as jnnx

from helpers import assert_reexports_the_functions, saved

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


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_alpha_dropout_rate_is_checked_at_construction(rate):
  with pytest.raises(ValueError, match=r"AlphaDropout: rate must be in \[0, 1\]"):
    jnnx.AlphaDropout(rate)


def test_alpha_dropout_rate_one_returns_zeros_without_rngs():
  np.testing.assert_array_equal(jnnx.AlphaDropout(1.0)(X), np.zeros(X.shape))


@pytest.mark.parametrize("rngs", [0, "dropout", jax.random.key(0)])
def test_alpha_dropout_rngs_of_another_type_at_construction_is_a_type_error(rngs):
  with pytest.raises(TypeError, match="AlphaDropout: rngs must be an nnx.Rngs"):
    jnnx.AlphaDropout(0.1, rngs=rngs)


@pytest.mark.parametrize("rngs, message", [
    (0, "rngs must be an nnx.Rngs, an nnx.RngStream or a PRNG key, got int"),
    (jnp.ones(2), "rngs must be a JAX PRNG key"),
])
def test_alpha_dropout_rngs_of_another_type_at_call_time_is_a_type_error(rngs, message):
  with pytest.raises(TypeError, match=f"AlphaDropout: {message}"):
    jnnx.AlphaDropout(0.1)(X, rngs=rngs)


def test_alpha_dropout_broadcast_dims_equal_the_function_with_the_same_key():
  x, key = jnp.ones((4, 30, 5)), jax.random.key(8)
  y = jnnx.AlphaDropout(0.3, broadcast_dims=(1,))(x, rngs=key)
  np.testing.assert_array_equal(y, jelu.alpha_dropout(x, 0.3, key=key, broadcast_dims=(1,)))
  assert (np.asarray(y) == np.asarray(y)[:, :1]).all()


@pytest.mark.parametrize("make, message", [
    (lambda: jnnx.ELU(-1.0, learnable=True), "ELU: alpha must be finite and >= 0"),
    (lambda: jnnx.ELU(float("nan")), "ELU: alpha must be finite and >= 0"),
    (lambda: jnnx.CELU(0.0), "CELU: alpha must be finite and > 0"),
    (lambda: jnnx.ELU(per_channel=True, features=3), "per_channel=True needs learnable=True"),
    (lambda: jnnx.ELU(learnable=True, per_channel=True), "needs features"),
    (lambda: jnnx.ELU(learnable=True, per_channel=True, features=0), "needs features"),
    (lambda: jnnx.ELU(learnable=True, features=3), "give per_channel=True"),
])
def test_bad_module_arguments_raise_value_error_at_construction(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_the_functions_are_reexported_and_listed_in_all():
  assert_reexports_the_functions(jnnx)
  rngs = nnx.Rngs(0)
  model = nnx.Sequential(nnx.Linear(6, 8, rngs=rngs), jnnx.elu)
  np.testing.assert_array_equal(model(X), jelu.elu(model.layers[0](X)))


class Block(nnx.Module):
  """Both dropouts side by side: flax's own and jelu's."""

  def __init__(self, rngs):
    self.linear = nnx.Linear(6, 64, rngs=rngs)
    self.dropout = nnx.Dropout(0.5, rngs=rngs)
    self.alpha_dropout = jnnx.AlphaDropout(0.5, rngs=rngs)

  def __call__(self, x, deterministic=None):
    x = self.dropout(self.linear(x), deterministic=deterministic)
    return self.alpha_dropout(x, deterministic=deterministic)


def is_identity(block):
  """Whether both dropouts are off: the block then equals its linear layer."""
  return np.array_equal(block(X), block.linear(X))


def test_view_eval_train_and_call_time_flag_reach_both_dropouts():
  block = Block(nnx.Rngs(0))
  assert not is_identity(block)
  evaluation = nnx.view(block, deterministic=True)
  assert evaluation.dropout.deterministic and evaluation.alpha_dropout.deterministic
  assert is_identity(evaluation)
  assert not block.alpha_dropout.deterministic and not is_identity(block)  # views copy
  training = nnx.view(evaluation, deterministic=False)
  assert not is_identity(training)
  block.eval()
  assert block.alpha_dropout.deterministic and is_identity(block)
  assert not np.array_equal(block(X, deterministic=False), block.linear(X))  # the call wins
  block.train()
  assert not block.alpha_dropout.deterministic and not is_identity(block)
  np.testing.assert_array_equal(block(X, deterministic=True), block.linear(X))


def test_view_of_a_model_whose_only_dropout_is_alpha_dropout():
  model = make_model(nnx.Rngs(0))
  evaluation = nnx.view(model, deterministic=True)
  np.testing.assert_array_equal(evaluation(X), evaluation(X))
  assert not np.array_equal(model(X), model(X))
  assert "deterministic" in nnx.view_info(model)


def test_view_can_select_alpha_dropout_alone():
  block = Block(nnx.Rngs(0))
  view = nnx.view(block, only=jnnx.AlphaDropout, deterministic=True)
  assert view.alpha_dropout.deterministic and not view.dropout.deterministic


def test_deterministic_none_must_come_from_a_view_or_the_call():
  layer = jnnx.AlphaDropout(0.5, deterministic=None, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="deterministic is None"):
    layer(X)
  np.testing.assert_array_equal(nnx.view(layer, deterministic=True)(X), X)
  np.testing.assert_array_equal(layer(X, deterministic=True), X)


def test_view_under_nnx_jit_is_the_identity():
  block = Block(nnx.Rngs(0))
  evaluation = nnx.view(block, deterministic=True)
  y = nnx.jit(lambda m, x: m(x))(evaluation, X)
  np.testing.assert_allclose(y, block.linear(X), rtol=1e-6)


def test_residual_argument_reaches_the_function_and_is_checked_at_construction():
  x = jnp.linspace(-3, 3, 64)
  for layer in (jnnx.ELU(residual="input"), jnnx.SELU(residual="input"),
                jnnx.CELU(0.5, residual="input")):
    kept = [line for line in saved(layer, x) if "[64]" in line]
    assert len(kept) == 1 and "from the argument" in kept[0], kept
  for make in (lambda: jnnx.ELU(residual="y"), lambda: jnnx.SELU(residual="y"),
               lambda: jnnx.CELU(residual="y")):
    with pytest.raises(ValueError, match="residual must be one of"):
      make()


def test_functions_accept_nnx_variables_as_x_and_alpha():
  # jax.nn's activations accept anything with __jax_array__; so do jelu's.
  # (ArrayLike does not name the protocol, hence the casts for the type checker.)
  alpha = cast(jax.Array, nnx.Param(jnp.asarray(0.5)))
  wrapped_x = cast(jax.Array, nnx.Param(X))
  np.testing.assert_array_equal(jelu.elu(X, alpha), jelu.elu(X, 0.5))
  np.testing.assert_array_equal(jelu.celu(wrapped_x, alpha), jelu.celu(X, 0.5))
  np.testing.assert_array_equal(jelu.selu(wrapped_x), jelu.selu(X))
