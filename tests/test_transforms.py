"""jelu composes with JAX's transformations; forward mode is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu

import reference as ref
from helpers import call

X = jnp.asarray(np.linspace(-3, 2, 12, dtype=np.float32).reshape(4, 3))


def test_jit(name):
  np.testing.assert_allclose(jax.jit(lambda v: call(name, v))(X), ref.VALUES[name](X), rtol=3e-7)


def test_vmap(name):
  np.testing.assert_array_equal(jax.vmap(lambda v: call(name, v))(X), call(name, X))


def test_vmap_over_alpha():
  alphas = jnp.asarray([0.5, 1.0, 2.0])
  y = jax.vmap(lambda a: jelu.elu(X, a))(alphas)
  for i, a in enumerate([0.5, 1.0, 2.0]):
    np.testing.assert_allclose(y[i], ref.elu(X, a), rtol=3e-7)


def test_grad_of_sum(name):
  np.testing.assert_allclose(jax.grad(lambda v: call(name, v).sum())(X), ref.DERIVS[name](X),
                             rtol=2e-7, atol=4e-7)


def test_vmap_of_grad(name):
  g = jax.vmap(jax.vmap(jax.grad(lambda v: call(name, v))))(X)
  np.testing.assert_allclose(g, ref.DERIVS[name](X), rtol=2e-7, atol=4e-7)


def test_jacrev_is_diagonal(name):
  x = X.ravel()
  jac = jax.jacrev(lambda v: call(name, v))(x)
  np.testing.assert_allclose(jac, np.diag(ref.DERIVS[name](x)), rtol=2e-7, atol=4e-7)


def test_hessian_is_the_second_derivative_on_the_diagonal():
  x = jnp.asarray([-2.0, -0.5, 0.5, 1.5])
  h = jax.hessian(lambda v: jelu.elu(v, 1.5).sum())(x)
  np.testing.assert_allclose(h, np.diag(ref.dd_elu(x, 1.5)), rtol=1e-6, atol=1e-7)
  h = jax.hessian(lambda v: jelu.celu(v, 0.5).sum())(x)
  np.testing.assert_allclose(h, np.diag(ref.dd_celu(x, 0.5)), rtol=1e-6, atol=1e-7)


def test_hessian_after_alpha_was_differentiated():
  # Regression: the residuals for a differentiated and a fixed alpha must share
  # one pytree structure, or jax's cached fwd trace mixes them up.
  x = jnp.asarray([-2.0, -0.5, 0.5])
  jax.vjp(jelu.elu, x)
  jax.vjp(jelu.elu, x, 1.5)
  h = jax.hessian(lambda v: jelu.elu(v).sum())(x)
  np.testing.assert_allclose(h, np.diag(ref.dd_elu(x)), rtol=1e-6)
  g = jax.grad(lambda a: jelu.elu(x, a).sum())(1.5)
  np.testing.assert_allclose(g, ref.da_elu(x).sum(), rtol=1e-6)


def test_checkpoint(name):
  f = jax.checkpoint(lambda v: jnp.sin(call(name, v)))
  g = jax.grad(lambda v: f(v).sum())(X)
  expected = np.cos(ref.VALUES[name](X)) * ref.DERIVS[name](X)
  np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-6)


def test_scan_of_layers_and_its_gradient(name):
  ws = jnp.asarray(np.random.default_rng(1).normal(size=(5, 3, 3)).astype(np.float32) / 2)

  def net(v):
    def step(h, w):
      return call(name, h @ w), None
    return jax.lax.scan(step, v, ws)[0].sum()

  def net_unrolled(v):
    for w in ws:
      v = call(name, v @ w)
    return v.sum()

  np.testing.assert_allclose(net(X), net_unrolled(X), rtol=1e-6)
  np.testing.assert_allclose(jax.grad(net)(X), jax.grad(net_unrolled)(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("transform", [
    lambda f, x: jax.jvp(f, (x,), (jnp.ones_like(x),)),
    lambda f, x: jax.jacfwd(f)(x),
])
def test_forward_mode_raises_type_error(name, transform):
  with pytest.raises(TypeError, match="custom_vjp"):
    transform(lambda v: call(name, v), X)


def test_each_activation_carries_its_own_name_in_jaxprs_and_hlo(name):
  # Read by anyone profiling: the jitted function is named for the activation,
  # the custom_vjp for the family that shares the kernel.
  x = jnp.ones(3)
  jaxpr = str(jax.make_jaxpr(lambda v: call(name, v))(x))
  assert f"name={name}" in jaxpr
  assert "name=_elu_family" in jaxpr
  assert "_activation" not in jaxpr
  hlo = jax.jit(lambda v: call(name, v)).lower(x).as_text()
  assert f"@{name}(" in hlo or f"@{name}." in hlo, hlo[:2000]


def test_a_concrete_input_closed_over_under_jit_leaks_no_tracer():
  # A python-number alpha is cached on the device for eager calls; a concrete x
  # closed over by a traced function must not put a tracer into that cache.
  x = jnp.asarray([-1.0, 0.5])
  with jax.checking_leaks():
    y = jax.jit(lambda v: jelu.elu(x, 0.371) + v)(1.0)
    z = jax.jit(lambda v: jelu.celu(x, 0.371) * v)(2.0)
  np.testing.assert_allclose(y, jelu.elu(x, 0.371) + 1.0, rtol=1e-7)
  np.testing.assert_allclose(z, jelu.celu(x, 0.371) * 2.0, rtol=1e-7)
