"""Property-based tests (hypothesis) over random float32 arrays and alphas."""

import os

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jelu

import reference as ref

SIZE = 64  # one shape, so each function compiles once
# XLA on CPU flushes subnormals to zero (see test_subnormals_are_treated_as_zero).
finite = st.floats(-1e4, 1e4, width=32, allow_nan=False, allow_infinity=False,
                   allow_subnormal=False)
arrays = hnp.arrays(np.float32, SIZE, elements=finite)
alphas = st.floats(0.0625, 16.0, width=32)
names = st.sampled_from(["elu", "selu", "celu"])
# JELU_EXAMPLES=1500 for a longer hunt; 40 keeps the suite fast.
PROPERTIES = settings(max_examples=int(os.environ.get("JELU_EXAMPLES", "40")), deadline=None)


def activation(name, alpha):
  """(f, scale, saturation magnitude) for one of the three, at alpha."""
  if name == "selu":
    return jelu.selu, ref.SELU_SCALE, ref.SELU_SCALE * ref.SELU_ALPHA
  f = jelu.elu if name == "elu" else jelu.celu
  return (lambda x: f(x, alpha)), 1.0, alpha


@PROPERTIES
@given(arrays, alphas, names)
def test_monotone_non_decreasing(x, alpha, name):
  f, _, _ = activation(name, alpha)
  y = np.asarray(f(jnp.sort(jnp.asarray(x))))
  assert np.all(np.diff(y) >= 0)


@PROPERTIES
@given(alphas, names, st.floats(1e-30, 1e-6))
def test_continuous_at_zero(alpha, name, eps):
  f, scale, _ = activation(name, alpha)
  x = jnp.asarray([-eps, 0.0, eps], jnp.float32)
  y = np.asarray(f(x), np.float64)
  # Near 0 both branches are ~ slope * x, with slopes scale and scale*alpha (or 1).
  bound = 2 * max(scale, scale * alpha, 1.0) * eps
  assert y[1] == 0 and abs(y[0]) <= bound and abs(y[2]) <= bound


@PROPERTIES
@given(arrays, alphas, names)
def test_scaled_identity_for_positive_x(x, alpha, name):
  f, scale, _ = activation(name, alpha)
  y = np.asarray(f(jnp.asarray(x)))
  pos = x > 0
  if scale == 1.0:
    np.testing.assert_array_equal(y[pos], x[pos])
  else:  # SELU: lambda * x rounded once, not float32(lambda) * x rounded again, but below
    # 2**-101, where XLA:CPU flushes the low part's product (within 1.1 ulp there).
    expected = scale * x[pos].astype(np.float64)
    ulp = np.spacing(np.abs(expected.astype(np.float32))).astype(np.float64)
    bound = np.where(x[pos] < 2.0**-101, 1.1, 0.501)
    assert np.all(np.abs(y[pos] - expected) <= bound * ulp)


@PROPERTIES
@given(arrays, alphas, names)
def test_bounded_below_by_minus_scale_alpha(x, alpha, name):
  f, _, saturation = activation(name, alpha)
  y = np.asarray(f(jnp.asarray(x)))
  assert np.all(y >= np.float32(-saturation))


@PROPERTIES
@given(arrays, alphas, names)
def test_gradient_equals_the_analytic_derivative(x, alpha, name):
  f, scale, _ = activation(name, alpha)
  g = jax.vmap(jax.grad(f))(jnp.asarray(x))
  d = {"elu": lambda v: ref.d_elu(v, alpha), "selu": ref.d_selu,
       "celu": lambda v: ref.d_celu(v, alpha)}[name](x)
  # Absolute error about an ulp of the saturation value (the slope comes from y).
  np.testing.assert_allclose(g, d, rtol=1e-6, atol=4e-7 * max(1.0, scale * alpha))


@PROPERTIES
@given(arrays, alphas, names)
def test_jit_vmap_and_eager_agree_within_an_ulp(x, alpha, name):
  # Not bit for bit: XLA:CPU's LLVM contracts the kernel's products into multiply-adds as it
  # chooses for each program, and a vmapped or jitted program may be contracted otherwise (jax
  # 0.9.0, ELU at alpha 3 of -1/3: -0.85040605 vmapped, -0.85040611 eager, either side of
  # the truth). Under jit a python-float alpha is a compile-time constant; jelu hides it
  # from XLA's simplifier, so no other rewrite changes the values.
  f, _, _ = activation(name, alpha)
  x = jnp.asarray(x)
  eager = np.asarray(f(x))
  vmapped = np.asarray(jax.vmap(f)(x.reshape(8, 8))).ravel()
  np.testing.assert_array_max_ulp(vmapped, eager, maxulp=1)
  np.testing.assert_array_max_ulp(np.asarray(jax.jit(f)(x)), eager, maxulp=1)


@PROPERTIES
@given(arrays)
def test_elu_and_celu_agree_at_alpha_one(x):
  x = jnp.asarray(x)
  np.testing.assert_array_equal(jelu.elu(x, 1.0), jelu.celu(x, 1.0))
