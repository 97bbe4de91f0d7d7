"""Flax linen modules call the functions and compose with jax transforms."""

import subprocess
import sys
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu
from jelu import linen as jnn

X = jnp.asarray(np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6))


def test_modules_have_no_variables_and_equal_the_functions():
  for module, f in ((jnn.ELU(alpha=0.5), lambda x: jelu.elu(x, 0.5)),
                    (jnn.SELU(), jelu.selu),
                    (jnn.CELU(alpha=2.0), lambda x: jelu.celu(x, 2.0))):
    y, variables = module.init_with_output(jax.random.key(0), X)
    assert variables == {}
    np.testing.assert_array_equal(y, f(X))
    np.testing.assert_array_equal(module.apply({}, X), f(X))


def test_default_alphas_are_one():
  np.testing.assert_array_equal(jnn.ELU().apply({}, X), jelu.elu(X, 1.0))
  np.testing.assert_array_equal(jnn.CELU().apply({}, X), jelu.celu(X, 1.0))


class MLP(nn.Module):
  act: Callable[[jax.Array], jax.Array]

  @nn.compact
  def __call__(self, x):
    x = self.act(nn.Dense(8)(x))
    x = self.act(nn.Dense(8)(x))
    return nn.Dense(1)(x).sum()


def test_hessian_of_a_small_linen_model():
  model = MLP(act=jnn.ELU())
  params = model.init(jax.random.key(0), X)
  h = jax.hessian(lambda x: model.apply(params, x))(X[0])
  reference = jax.hessian(lambda x: MLP(act=nn.elu).apply(params, x))(X[0])
  assert h.shape == (6, 6)
  np.testing.assert_allclose(h, reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("ours, theirs", [(jnn.ELU(), nn.elu), (jnn.SELU(), nn.selu),
                                          (jnn.CELU(), nn.celu)], ids=["elu", "selu", "celu"])
def test_training_gradient_matches_jax_nn(ours, theirs):
  params = MLP(act=ours).init(jax.random.key(1), X)
  g1 = jax.grad(lambda p: MLP(act=ours).apply(p, X))(params)
  g2 = jax.grad(lambda p: MLP(act=theirs).apply(p, X))(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), g1, g2)


def test_import_jelu_does_not_import_flax():
  code = "import sys, jelu; jelu.elu(1.0); assert 'flax' not in sys.modules, 'flax imported'"
  subprocess.run([sys.executable, "-c", code], check=True)
