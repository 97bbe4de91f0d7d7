"""Gradients in x and alpha against analytic float64 derivatives and jax.nn."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jelu
from jelu import _activations

import reference as ref
from helpers import GRID, call, call_jax_nn


def elementwise_grad(f):
  return jax.vmap(jax.grad(f))


def test_grad_matches_analytic_derivative(case):
  name, alpha = case
  g = elementwise_grad(lambda v: call(name, v, alpha))(jnp.asarray(GRID))
  expected = ref.DERIVS[name](GRID, 1.0 if alpha is None else alpha)
  # The slope comes from the float32 output, so its absolute error is about
  # an ulp of alpha (see the module docs).
  np.testing.assert_allclose(g, expected, rtol=2e-7, atol=4e-7)


def test_grad_agrees_with_jax_nn(case):
  name, alpha = case
  x = jnp.asarray(GRID)
  np.testing.assert_allclose(
      elementwise_grad(lambda v: call(name, v, alpha))(x),
      elementwise_grad(lambda v: call_jax_nn(name, v, alpha))(x), rtol=1e-6, atol=4e-7)


def test_grad_at_exactly_zero_is_the_negative_branch_slope():
  assert jax.grad(jelu.elu)(0.0) == 1.0
  assert jax.grad(jelu.elu)(0.0, 2.5) == 2.5
  assert jax.grad(jelu.selu)(0.0) == np.float32(ref.SELU_SCALE * ref.SELU_ALPHA)
  assert jax.grad(jelu.celu)(0.0, 3.0) == 1.0
  assert jax.grad(jelu.elu)(-0.0, 2.5) == 2.5


def test_grad_at_zero_matches_jax_nn(case):
  name, alpha = case
  ours = jax.grad(lambda v: call(name, v, alpha))(0.0)
  theirs = jax.grad(lambda v: call_jax_nn(name, v, alpha))(0.0)
  np.testing.assert_allclose(ours, theirs, rtol=1e-7)


def test_grad_at_extremes_is_finite_and_right(case):
  name, alpha = case
  x = jnp.asarray([-jnp.inf, -1e30, -1e4, -1e-30, 1e-30, 1e4, 1e30, jnp.inf], jnp.float32)
  g = elementwise_grad(lambda v: call(name, v, alpha))(x)
  assert np.all(np.isfinite(g))
  expected = ref.DERIVS[name](np.asarray(x), 1.0 if alpha is None else alpha)
  np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-7)


def test_grad_of_nan_is_nan(name):
  g = elementwise_grad(lambda v: call(name, v))(jnp.asarray([jnp.nan, -1.0, 1.0]))
  np.testing.assert_array_equal(np.isnan(g), [True, False, False])


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
def test_alpha_grad_scalar_matches_analytic_and_jax_nn(alpha):
  x = jnp.asarray(GRID)
  for f, f_nn, da in ((jelu.elu, jax.nn.elu, ref.da_elu), (jelu.celu, jax.nn.celu, ref.da_celu)):
    ours = jax.grad(lambda a, f=f: f(x, a).sum())(alpha)
    theirs = jax.grad(lambda a, f_nn=f_nn: f_nn(x, a).sum())(alpha)
    expected = da(GRID, alpha).sum()
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_alpha_grad_per_channel_matches_analytic_and_jax_nn():
  x = jnp.asarray(np.linspace(-5, 2, 60, dtype=np.float32).reshape(20, 3))
  alpha = jnp.asarray([0.5, 1.0, 2.0])
  w = jnp.asarray(np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32))
  for f, f_nn, da in ((jelu.elu, jax.nn.elu, ref.da_elu), (jelu.celu, jax.nn.celu, ref.da_celu)):
    ours = jax.grad(lambda a, f=f: (w * f(x, a)).sum())(alpha)
    theirs = jax.grad(lambda a, f_nn=f_nn: (w * f_nn(x, a)).sum())(alpha)
    expected = (np.asarray(w, np.float64) * da(x, np.asarray(alpha))).sum(axis=0)
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_alpha_grad_at_minus_infinity_is_finite():
  x = jnp.asarray([-jnp.inf, -1.0], jnp.float32)
  np.testing.assert_allclose(jax.grad(lambda a: jelu.elu(x, a).sum())(2.0),
                             ref.da_elu(np.asarray(x), 2.0).sum(), rtol=1e-6)
  np.testing.assert_allclose(jax.grad(lambda a: jelu.celu(x, a).sum())(2.0),
                             ref.da_celu(np.asarray(x), 2.0).sum(), rtol=1e-6)


def test_x_and_alpha_grads_together():
  x = jnp.asarray([-2.0, -0.5, 1.5])
  gx, ga = jax.grad(lambda v, a: jelu.celu(v, a).sum(), argnums=(0, 1))(x, 1.5)
  np.testing.assert_allclose(gx, ref.d_celu(np.asarray(x), 1.5), rtol=1e-6)
  np.testing.assert_allclose(ga, ref.da_celu(np.asarray(x), 1.5).sum(), rtol=1e-6)


def test_second_derivative_matches_analytic():
  x = jnp.asarray(np.r_[np.linspace(-6, -0.1, 30), np.linspace(0.1, 3, 10)].astype(np.float32))
  dd = jax.vmap(jax.grad(jax.grad(jelu.elu)))(x, jnp.full_like(x, 1.5))
  np.testing.assert_allclose(dd, ref.dd_elu(np.asarray(x), 1.5), rtol=1e-5, atol=1e-6)
  dd = jax.vmap(jax.grad(jax.grad(jelu.celu)))(x, jnp.full_like(x, 0.7))
  np.testing.assert_allclose(dd, ref.dd_celu(np.asarray(x), 0.7), rtol=1e-5, atol=1e-6)
  dd = jax.vmap(jax.grad(jax.grad(jelu.selu)))(x)
  np.testing.assert_allclose(dd, ref.SELU_SCALE * ref.dd_elu(np.asarray(x), ref.SELU_ALPHA),
                             rtol=1e-5, atol=1e-6)


def test_check_grads_reverse_mode_to_second_order(x64, case):
  name, alpha = case
  # Points away from 0, where the function is smooth to second order.
  x = jnp.asarray([-3.0, -0.7, -0.05, 0.2, 1.3])
  if alpha is None:
    check_grads(lambda v: call(name, v), (x,), order=2, modes=["rev"])
  else:
    check_grads(lambda v, a: call(name, v, a), (x, alpha), order=2, modes=["rev"])


def test_grad_of_empty_and_zero_dimensional_arrays(name):
  g = jax.grad(lambda v: call(name, v).sum())(jnp.zeros((0, 3)))
  assert g.shape == (0, 3)
  g = jax.grad(lambda v: call(name, v))(jnp.float32(-1.0))
  assert g.shape == ()
  np.testing.assert_allclose(g, ref.DERIVS[name](-1.0), rtol=1e-6)


def _input_residual(name, alpha):
  f = {"elu": jelu.elu, "celu": jelu.celu}.get(name)
  if f is None:
    return lambda v: jelu.selu(v, residual="input")
  return lambda v: f(v, alpha, residual="input")


def test_input_residual_grad_matches_analytic_derivative(case):
  # residual="input" recomputes the slope from x (one exp) instead of reading it off y.
  name, alpha = case
  x = np.concatenate([GRID, np.array([0.0, -0.0, -np.inf, -1e30, 1e30, np.inf], np.float32)])
  g = elementwise_grad(_input_residual(name, alpha))(jnp.asarray(x))
  expected = ref.DERIVS[name](x, 1.0 if alpha is None else alpha)
  # Below the smallest normal float32 the exponential is flushed to zero on the CPU.
  np.testing.assert_allclose(g, expected, rtol=4e-7, atol=float(np.finfo(np.float32).tiny))


def test_input_residual_second_derivative_matches_analytic(case):
  name, alpha = case
  a = 1.0 if alpha is None else alpha
  x = np.array([-5.0, -1.0, -0.25, 0.5, 3.0], np.float32)
  second = jax.vmap(jax.grad(jax.grad(_input_residual(name, alpha))))(jnp.asarray(x))
  # d2/dx2 of the negative branch: scale * a * e^x (ELU, SELU), e^(x/a) / a (CELU).
  scale = ref.SELU_SCALE if name == "selu" else 1.0
  a_eff = ref.SELU_ALPHA if name == "selu" else a
  x64 = x.astype(np.float64)
  neg = np.exp(x64 / a_eff) / a_eff if name == "celu" else scale * a_eff * np.exp(x64)
  np.testing.assert_allclose(second, np.where(x64 > 0, 0.0, neg), rtol=2e-6)


def test_input_residual_nan_propagates(name):
  g = jax.grad(_input_residual(name, 1.5))(jnp.float32(jnp.nan))
  assert np.isnan(g)


def test_residual_must_be_output_or_input():
  with pytest.raises(ValueError, match="residual must be one of"):
    jelu.elu(jnp.ones(3), residual="x")
  with pytest.raises(ValueError, match="selu: residual"):
    jelu.selu(jnp.ones(3), residual="both")


@pytest.mark.parametrize("alpha", [-0.5, -2.0, 0.0, 1.5])
def test_differentiated_alpha_gives_analytic_gradients_for_any_finite_alpha(alpha):
  # With alpha differentiated the slope comes from x, not from y's sign, so a traced
  # negative alpha (a learnable one that drifted below 0) still gets the right gradients.
  x = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0], np.float32)
  x64 = x.astype(np.float64)
  cases = [(jelu.elu, alpha * np.exp(x64), np.expm1(x64))]
  if alpha > 0:  # CELU's alpha must be > 0: its forward divides by it
    t = x64 / alpha
    cases.append((jelu.celu, np.exp(t), np.expm1(t) - t * np.exp(t)))
  for f, dx_neg, da_neg in cases:
    dx, da = jax.jit(jax.grad(lambda v, a, f=f: f(v, a).sum(), argnums=(0, 1)))(x, alpha)
    np.testing.assert_allclose(dx, np.where(x64 > 0, 1.0, dx_neg), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(da, np.where(x64 > 0, 0.0, da_neg).sum(), rtol=2e-6, atol=1e-7)


def test_second_derivative_at_exactly_zero_is_the_negative_branch():
  # d2/dx2 of the negative branch at 0: alpha (ELU), lambda * alpha (SELU), 1 / alpha (CELU).
  for x in (0.0, -0.0):
    assert jax.grad(jax.grad(lambda v: jelu.elu(v, 0.5)))(x) == 0.5
    np.testing.assert_allclose(jax.grad(jax.grad(jelu.selu))(x),
                               ref.SELU_SCALE * ref.SELU_ALPHA, rtol=1e-7)
    assert jax.grad(jax.grad(lambda v: jelu.celu(v, 0.5)))(x) == 2.0
    assert jax.grad(jax.grad(lambda v: jelu.elu(v, 0.5, residual="input")))(x) == 0.5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_primals_slope_at_exactly_zero_is_the_negative_branchs(name, dtype):
  # The second derivative at 0 above is the backward rule's derivative, which is y's slope
  # there: _primal's at +-0 must be the negative branch's (alpha, lambda * alpha, 1), in
  # float64 too.
  alpha = {"elu": 0.5, "selu": ref.SELU_SCALE * ref.SELU_ALPHA, "celu": 0.5}[name]
  expected = {"elu": 0.5, "selu": ref.SELU_SCALE * ref.SELU_ALPHA, "celu": 1.0}[name]
  with jax.enable_x64(dtype == "float64"):
    x = jnp.asarray([0.0, -0.0], dtype)
    primal = functools.partial(_activations._primal, kind=name)
    a = jnp.asarray(alpha, dtype)
    slope = jax.jit(jax.vmap(jax.grad(lambda v, a: primal(v, a)), (0, None)))(x, a)
  assert slope.dtype == dtype
  rtol = 1e-7 if dtype == "float32" else 1e-15
  np.testing.assert_allclose(slope, [expected, expected], rtol=rtol)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_the_input_residuals_16_bit_gradient_is_the_slope_rounded(dtype):
  # With residual="input" in 16 bits the slope comes from x (a * exp(x)), computed in float32:
  # dx is the float64 slope to within one rounding to the 16-bit type (subnormals included),
  # a negative ELU alpha included (jax.nn's slope), at +-0 the negative branch's, 0 at -inf,
  # and NaN where x is.
  eps = float(jnp.finfo(dtype).eps)
  x = np.concatenate([np.linspace(-12.0, 4.0, 3001),
                      [0.0, -0.0, -np.inf, np.inf, np.nan]]).astype(dtype)
  for name, alpha in (("elu", 1.7), ("elu", -0.5), ("selu", None), ("celu", 0.7)):
    a = ref.SELU_SCALE * ref.SELU_ALPHA if alpha is None else alpha

    def f(v, name=name, a=a):
      return jnp.asarray(_activations._elu_family(v, jnp.float32(a), name, "input"),
                         jnp.float32)

    g = jax.jit(jax.grad(lambda v: f(v).sum()))(jnp.asarray(x))
    assert g.dtype == dtype
    x64 = x.astype(np.float64)
    expected = ref.DERIVS[name](x64, 1.0 if alpha is None else alpha)
    expected = np.where(x64 == -np.inf, 0.0, expected)
    # A subnormal dx (float16's below 6.1e-5) is rounded to its absolute spacing.
    atol = float(jnp.finfo(dtype).tiny) * eps
    np.testing.assert_allclose(np.asarray(g, np.float64), expected, rtol=eps, atol=atol,
                               err_msg=f"{name} alpha={alpha}")


def _nan_or_equal(ours, theirs):
  ours, theirs = np.asarray(ours), np.asarray(theirs)
  return np.isnan(ours) | np.isclose(ours, theirs, rtol=2e-6, atol=1e-7, equal_nan=True)


@pytest.mark.parametrize("alpha", [-0.5, -2.0, 0.0])
@pytest.mark.parametrize("traced", ["jit argument", "device array"])
def test_unchecked_bad_alpha_gives_jax_nns_gradient_or_nan_never_a_wrong_number(alpha, traced):
  # An alpha that is a jax array is not read on the host (no device sync), so a
  # negative one (or CELU's 0) reaches the kernel. Where y alone cannot tell the
  # branch the gradient is NaN; it is never a wrong finite number.
  x = jnp.asarray([-3.0, -1.0, -0.25, -0.0, 0.0, 0.5, 2.0])
  for f, f_nn in ((jelu.elu, jax.nn.elu), (jelu.celu, jax.nn.celu)):
    def grad(fn):
      g = jax.grad(lambda v, a: fn(v, a).sum())
      return jax.jit(g)(x, alpha) if traced == "jit argument" else g(x, jnp.asarray(alpha))
    ours, theirs = grad(f), grad(f_nn)
    assert _nan_or_equal(ours, theirs).all(), (f.__name__, ours, theirs)
    values = f(x, jnp.asarray(alpha))
    assert _nan_or_equal(values, f_nn(x, jnp.asarray(alpha))).all(), (f.__name__, values)


def test_negative_elu_alpha_kept_input_gives_jax_nns_gradient():
  # With residual="input" the slope comes from x: right for any finite alpha.
  x = jnp.asarray([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0])
  ours = jax.jit(jax.grad(lambda v, a: jelu.elu(v, a, residual="input").sum()))(x, -0.5)
  np.testing.assert_allclose(ours, np.where(x > 0, 1.0, -0.5 * np.exp(np.asarray(x, np.float64))),
                             rtol=2e-6)


def test_negative_elu_alpha_through_y_is_nan_on_the_ambiguous_side():
  # At x = -1, alpha = -0.5 jax.nn gives -0.184; reading y alone cannot (y > 0 on
  # both branches for alpha < 0), so the gradient is NaN, not 1.
  g = jax.jit(jax.grad(lambda v, a: jelu.elu(v, a).sum()))(jnp.array([-1.0]), -0.5)
  assert np.isnan(g).all()


def test_celu_alpha_not_positive_gives_nan_values_and_gradients():
  # CELU divides by alpha and is undefined for alpha <= 0 (jax.nn's formula gives
  # NaN at 0 and other numbers below): a traced such alpha gives NaN throughout,
  # values and gradients, through either residual.
  x = jnp.asarray([-1.0, 0.0, 2.0])
  for alpha in (0.0, -0.5):
    assert np.isnan(jax.jit(jelu.celu)(x, alpha)).all()
    for residual in ("output", "input"):
      dx = jax.jit(jax.grad(lambda v, a, r=residual: jelu.celu(v, a, residual=r).sum()))(x, alpha)
      assert np.isnan(dx).all(), residual
    dx, da = jax.jit(jax.grad(lambda v, a: jelu.celu(v, a).sum(), argnums=(0, 1)))(x, alpha)
    assert np.isnan(dx).all() and np.isnan(da)
