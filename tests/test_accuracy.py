"""Measured accuracy bounds against float64 references on a dense grid.

The grid (tests/reference.py): magnitudes log-spaced from 1e-10 to 30 and linear
from 0 to 30, negated (the exponential branch), plus the positive side. Bounds are
what jelu measures (docs/accuracy.md), each a little above the measurement:

- float32 values where XLA contracts multiply-adds (XLA:CPU here): ELU and SELU
  <= 1 ulp, CELU <= 1.6 (its quotient x / alpha is rounded), at every alpha of a
  log-spaced sweep over [0.01, 100] (jax.nn 4.5-6.0).
- float32 values in the GPU's arithmetic, without multiply-adds (jelu._expm1's
  kernel run on numpy float32): <= 0.9 ulp at alpha 1, <= 1.9 at others (CELU 2.5).
- float16 and bfloat16 values, every finite input: computed in float32 and
  rounded once, so within 0.501 ulp.
- derivatives: absolute error <= 1 ulp of 1.0 in the input dtype.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu
from jelu import _expm1

import reference as ref
from helpers import call, flushes_subnormals

FLOAT32_ULPS = {"elu": 1.0, "selu": 1.0, "celu": 1.6}
# 41 alphas log-spaced over [0.01, 100], and the ones the README's table shows.
SWEEP = sorted({float(np.float32(a)) for a in [*np.geomspace(0.01, 100, 41), 0.3, 1.7, 3.0]})


def test_float32_values_rounded_once_within_the_measured_bound(case):
  name, alpha = case
  x = ref.accuracy_grid(jnp.float32)
  expected = ref.VALUES[name](np.asarray(x), 1.0 if alpha is None else alpha)
  assert ref.ulps(call(name, x, alpha), expected, jnp.float32).max() <= FLOAT32_ULPS[name]


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_float32_values_within_the_bound_at_every_alpha_from_0_01_to_100(name):
  x = ref.accuracy_grid(jnp.float32)
  x64 = np.asarray(x)
  worst = {a: ref.ulps(call(name, x, a), ref.VALUES[name](x64, a), jnp.float32).max()
           for a in SWEEP}
  assert max(worst.values()) <= FLOAT32_ULPS[name], worst


def _without_multiply_adds(name, x, alpha):
  """The float32 forward as XLA:GPU's fusions compute it (``mul.rn``, ``add.rn``: no
  contraction), by running jelu's kernel on numpy float32, which has no multiply-add."""
  a = np.float32(ref.SELU_SCALE * ref.SELU_ALPHA if name == "selu" else alpha)
  return _expm1.elu_family_float32(x, a, name, ref.SELU_SCALE if name == "selu" else 1.0)


@pytest.mark.parametrize("name", ["elu", "selu", "celu"])
def test_float32_values_in_the_gpus_arithmetic_within_the_bound(name):
  x = np.asarray(ref.accuracy_grid(jnp.float32))
  x64 = x.astype(np.float64)
  alphas = [None] if name == "selu" else SWEEP
  worst = {a: ref.ulps(_without_multiply_adds(name, x, a), ref.VALUES[name](x64, a),
                       jnp.float32).max() for a in alphas}
  assert max(worst.values()) <= (2.5 if name == "celu" else 1.9), worst
  if name != "selu":
    assert worst[1.0] <= 0.9, worst[1.0]


def test_float32_values_near_zero_rounded_once(case):
  # Down to 1e-36, where float32 pairs would lose their low halves to XLA:CPU's
  # flush to zero. Below |x| = 2**-90 SELU's lambda * alpha * x rounds twice.
  name, alpha = case
  x = jnp.asarray(np.concatenate([-np.logspace(-36, -10, 20_000), np.logspace(-36, -10, 2_000)]),
                  jnp.float32)
  expected = ref.VALUES[name](np.asarray(x, np.float64), 1.0 if alpha is None else alpha)
  ulp = np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64)  # numpy keeps subnormals
  err = np.abs(np.asarray(call(name, x, alpha), np.float64) - expected) / ulp
  # Below |x| = 2**-101 SELU's low product lambda_lo * x is flushed on XLA:CPU.
  assert err.max() <= (1.1 if name == "selu" else FLOAT32_ULPS[name])


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=["float16", "bfloat16"])
def test_16_bit_values_of_every_finite_input_within_half_an_ulp(case, dtype):
  # All 65,536 bit patterns but NaN and infinities, against the float64 value rounded once:
  # the float32 kernel's error (its 16-bit polynomial, 2**-21) moves the rounding only
  # within 0.001 ulp of a tie.
  name, alpha = case
  bits = np.arange(2**16, dtype=np.uint16).view(np.dtype(dtype))
  x = jnp.asarray(bits[np.isfinite(bits.astype(np.float32))])
  expected = ref.VALUES[name](np.asarray(x, np.float64), 1.0 if alpha is None else alpha)
  ours = np.asarray(call(name, x, alpha), np.float64)
  # SELU's largest inputs overflow.
  with np.errstate(over="ignore"):
    finite = np.isfinite(np.asarray(jnp.asarray(expected, jnp.float32).astype(dtype),
                                    np.float32))
  # bfloat16's subnormals are float32's, which XLA:CPU flushes to zero (jax.nn's too), in
  # the input, CELU's quotient x / alpha and the result.
  tiny = np.finfo(np.float32).tiny
  scale = float(alpha) if name == "celu" and alpha is not None else 1.0
  flushed = flushes_subnormals() & ((np.abs(np.asarray(x, np.float64)) < tiny * scale)
                                    | (np.abs(expected) < tiny))
  measured = finite & ~flushed
  assert ref.ulps(ours[measured], expected[measured], dtype).max() <= 0.501
  assert np.isposinf(ours[~finite]).all()
  assert (np.abs(ours[flushed]) < 2 * tiny * scale).all()


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16],
                         ids=["float32", "float16", "bfloat16"])
def test_derivatives_within_one_ulp_of_one(case, dtype):
  name, alpha = case
  x = ref.accuracy_grid(dtype)
  g = jax.vmap(jax.grad(lambda v: call(name, v, alpha)))(x)
  expected = ref.DERIVS[name](np.asarray(x, np.float64), 1.0 if alpha is None else alpha)
  err = np.abs(np.asarray(g, np.float64) - expected) / float(jnp.finfo(dtype).eps)
  assert err.max() <= 1.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
def test_the_backward_passs_relative_error_by_residual(dtype):
  # ELU at alpha 1 (a python number, which leaves x's dtype alone) on x in [-30, 0): with
  # residual="input" dx is exp(x) within one rounding to the dtype everywhere; the default
  # reads the slope off y + 1, which loses it as y nears -1: within 2e-7 in float32 on
  # [-1, 0), and in bfloat16 within one rounding only there too. A differentiated alpha's
  # gradient, expm1(x): within 1e-7 in float32, one rounding in bfloat16 (alpha of x's
  # dtype, as a flax module casts it).
  x = jnp.asarray(-np.geomspace(30, 1e-3, 20_001), dtype)
  x64 = np.asarray(x, np.float64)
  eps = float(jnp.finfo(dtype).eps)

  def relative(f, true):
    got = jax.vmap(jax.grad(lambda v: f(v).astype(jnp.float32)))(x)
    return np.abs(np.asarray(got, np.float64) - true) / np.abs(true)

  near = x64 >= -1
  by_input = relative(lambda v: jelu.elu(v, 1.0, residual="input"), np.exp(x64))
  by_output = relative(lambda v: jelu.elu(v, 1.0), np.exp(x64))
  assert by_input.max() <= eps, by_input.max()
  assert by_output[near].max() <= (2e-7 if dtype == jnp.float32 else eps)
  assert by_output[x64 < -20].min() == 1.0  # y rounds to -1 there: the slope is 0
  one = jnp.asarray(1.0, dtype)
  da = jax.vmap(jax.grad(lambda v, a: jelu.elu(v, a).astype(jnp.float32), argnums=1),
                (0, None))(x, one)
  true = np.expm1(x64)
  bound = 1e-7 if dtype == jnp.float32 else eps / 2
  assert (np.abs(np.asarray(da, np.float64) - true) / np.abs(true)).max() <= bound
