"""jax.export with a symbolic batch dimension: values, gradients and the flax modules."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

import jelu
from jelu import linen as jnn

import reference as ref

B = export.symbolic_shape("b")[0]
SPEC = jax.ShapeDtypeStruct((B, 7), jnp.float32)
X = np.linspace(-4.0, 3.0, 3 * 7, dtype=np.float32).reshape(3, 7)

FUNCTIONS = {"elu": (jelu.elu, ref.elu, ref.d_elu),
             "selu": (jelu.selu, lambda x, a: ref.selu(x), lambda x, a: ref.DERIVS["selu"](x, a)),
             "celu": (jelu.celu, ref.celu, ref.DERIVS["celu"])}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_exported_with_a_symbolic_batch_gives_values_and_gradients(name):
  f, value, derivative = FUNCTIONS[name]
  values = export.export(jax.jit(f))(SPEC)
  grads = export.export(jax.jit(jax.grad(lambda x: f(x).sum())))(SPEC)
  np.testing.assert_allclose(values.call(X), value(X, 1.0), rtol=2e-7, atol=1e-7)
  np.testing.assert_allclose(grads.call(X), derivative(X, 1.0), rtol=2e-6, atol=1e-7)
  assert jax.eval_shape(f, SPEC).shape == (B, 7)


def test_exported_per_channel_alpha_broadcasts_over_the_symbolic_batch():
  alpha = np.linspace(0.5, 2.0, 7, dtype=np.float32)
  exported = export.export(jax.jit(jelu.elu))(SPEC, jax.ShapeDtypeStruct((7,), jnp.float32))
  np.testing.assert_allclose(exported.call(X, alpha), ref.elu(X, alpha), rtol=2e-7, atol=1e-7)


def test_exported_linen_model_with_every_module():
  class Model(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = jnn.ELU(learnable=True, per_channel=True)(nn.Dense(8)(x))
      x = jnn.CELU(0.5)(jnn.SELU()(x))
      return nn.Dense(1)(x)

  model = Model()
  variables = model.init(jax.random.key(0), X)
  params_spec = jax.tree.map(lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype), variables)

  def loss(v, x):
    return jnp.sum(jnp.asarray(model.apply(v, x)))

  exported = export.export(jax.jit(jax.value_and_grad(loss)))(params_spec, SPEC)
  value, grads = exported.call(variables, X)
  expected_value, expected_grads = jax.value_and_grad(loss)(variables, X)
  np.testing.assert_allclose(value, expected_value, rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               grads, expected_grads)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_exported_for_every_platform_at_once_runs_the_cpus_branches_here(name):
  # jelu._xla's measures are chosen by jax.lax.platform_dependent: an export for several
  # platforms carries each one's program, and called here it is the CPU's, bit for bit.
  f = FUNCTIONS[name][0]
  x = X.copy()
  x[0, :2] = [1e-40, -1e-40]
  for g in (f, jax.grad(lambda x: f(x).sum())):
    exported = export.export(jax.jit(g), platforms=("cpu", "cuda", "rocm", "tpu"))(x)
    assert exported.platforms == ("cpu", "cuda", "rocm", "tpu")
    out = np.asarray(exported.call(x))
    np.testing.assert_array_equal(out, jax.jit(g)(x))
