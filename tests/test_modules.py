"""Flax linen modules call the functions and compose with jax transforms."""

# flax types `Module.apply` as output-or-(output, state) and `init`'s variables as a mapping,
# and nnx's ELU.alpha as a float or a Param; these tests index and call what they know they hold.
# pyright: reportAttributeAccessIssue=false, reportIndexIssue=false, reportArgumentType=false

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

from helpers import assert_reexports_the_functions, saved

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


@pytest.mark.parametrize("make, message", [
    (lambda: jnn.ELU(alpha=-1.0), "ELU: alpha must be finite and >= 0"),
    (lambda: jnn.ELU(alpha=-1.0, learnable=True), "ELU: alpha must be finite and >= 0"),
    (lambda: jnn.ELU(alpha=float("inf")), "ELU: alpha must be finite and >= 0"),
    (lambda: jnn.CELU(alpha=0.0), "CELU: alpha must be finite and > 0"),
    (lambda: jnn.ELU(per_channel=True), "per_channel=True needs learnable=True"),
])
def test_bad_alpha_raises_value_error_when_the_module_is_built(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_the_functions_are_reexported_and_listed_in_all():
  assert_reexports_the_functions(jnn)


def test_a_plain_function_is_a_layer_of_nn_sequential():
  model = nn.Sequential([nn.Dense(64), jnn.elu, nn.Dense(1)])
  params = model.init(jax.random.key(0), X)
  hidden = nn.Dense(64).apply({"params": params["params"]["layers_0"]}, X)
  expected = nn.Dense(1).apply({"params": params["params"]["layers_2"]}, jelu.elu(hidden))
  np.testing.assert_array_equal(model.apply(params, X), expected)


def test_import_jelu_does_not_import_flax():
  code = "import sys, jelu; jelu.elu(1.0); assert 'flax' not in sys.modules, 'flax imported'"
  subprocess.run([sys.executable, "-c", code], check=True)


def test_residual_field_reaches_the_function_and_is_checked_at_construction():
  x = jnp.linspace(-3, 3, 64)
  for layer in (jnn.ELU(residual="input"), jnn.SELU(residual="input"),
                jnn.CELU(0.5, residual="input")):
    kept = [line for line in saved(lambda v, layer=layer: layer.apply({}, v), x) if "[64]" in line]
    assert len(kept) == 1 and "from the argument" in kept[0], kept
  for make in (lambda: jnn.ELU(residual="y"), lambda: jnn.SELU(residual="y"),
               lambda: jnn.CELU(residual="y")):
    with pytest.raises(ValueError, match="residual must be one of"):
      make()
