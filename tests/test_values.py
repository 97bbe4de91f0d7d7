"""Forward values against float64 numpy, jax.nn, and pinned special points."""

import functools
from typing import cast
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu
from jelu import _activations, _expm1

import reference as ref
from helpers import GRID, TheTpusBranches, call, call_jax_nn, flushes_subnormals, subnormal


def test_values_match_float64_reference_within_two_ulp(case):
  name, alpha = case
  y = call(name, jnp.asarray(GRID), alpha)
  expected = ref.VALUES[name](GRID, 1.0 if alpha is None else alpha)
  assert ref.ulps(y, expected, jnp.float32).max() <= 2.0


def test_values_agree_with_jax_nn(case):
  name, alpha = case
  x = jnp.asarray(GRID)
  np.testing.assert_allclose(call(name, x, alpha), call_jax_nn(name, x, alpha),
                             rtol=1e-6, atol=1e-7)


def test_positive_branch_is_scaled_identity():
  x = jnp.asarray([1e-30, 1e-3, 1.0, 3.5, 1e30], jnp.float32)
  np.testing.assert_array_equal(jelu.elu(x, 2.0), x)
  np.testing.assert_array_equal(jelu.celu(x, 0.5), x)
  # lambda * x rounded once (float32(lambda) * x would round twice).
  np.testing.assert_array_equal(jelu.selu(x),
                                np.float32(ref.SELU_SCALE * np.asarray(x, np.float64)))


def test_special_points_are_pinned():
  x = jnp.asarray([-jnp.inf, -1e30, -1e4, -0.0, 0.0, 1e4, 1e30, jnp.inf], jnp.float32)
  sa = np.float32(ref.SELU_SCALE * ref.SELU_ALPHA)
  big = np.array([1e4, 1e30, np.inf], np.float32)
  s_big = np.float32(ref.SELU_SCALE * big.astype(np.float64))
  np.testing.assert_array_equal(jelu.elu(x, 2.0), np.r_[-2, -2, -2, 0, 0, big])
  np.testing.assert_array_equal(jelu.celu(x, 0.5), np.r_[-0.5, -0.5, -0.5, 0, 0, big])
  np.testing.assert_array_equal(jelu.selu(x), np.r_[-sa, -sa, -sa, 0, 0, s_big])


def test_negative_zero_keeps_its_sign():
  for f in (jelu.elu, jelu.selu, jelu.celu):
    y = f(jnp.float32(-0.0))
    assert y == 0 and np.signbit(y), f.__name__


def test_nan_propagates(name):
  y = call(name, jnp.asarray([jnp.nan, -1.0, jnp.nan, 1.0]))
  np.testing.assert_array_equal(np.isnan(y), [True, False, True, False])


def test_per_channel_alpha_matches_reference():
  x = jnp.asarray(np.linspace(-4, 2, 24, dtype=np.float32).reshape(8, 3))
  alpha = np.array([0.25, 1.0, 3.0], np.float32)
  np.testing.assert_allclose(jelu.elu(x, alpha), ref.elu(x, alpha), rtol=2e-7, atol=1e-7)
  np.testing.assert_allclose(jelu.celu(x, alpha), ref.celu(x, alpha), rtol=3e-7, atol=1e-7)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (2, 3, 4)])
def test_shapes_are_preserved(name, shape):
  x = jnp.full(shape, -0.5, jnp.float32)
  y = call(name, x)
  assert y.shape == shape
  np.testing.assert_allclose(y, ref.VALUES[name](np.asarray(x)), rtol=2e-7)


def test_numpy_arrays_and_python_scalars_are_accepted(name):
  for x in (np.array([-1.0, 2.0]), -1.0, 2, np.float32(-3.0), True):
    np.testing.assert_allclose(call(name, x), ref.VALUES[name](x), rtol=3e-7)


def test_float64_values_under_x64(x64, case):
  name, alpha = case
  x = jnp.asarray(np.linspace(-20, 5, 501))
  assert x.dtype == jnp.float64
  y = call(name, x, alpha)
  assert y.dtype == jnp.float64
  expected = ref.VALUES[name](np.asarray(x), 1.0 if alpha is None else alpha)
  np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-300)


def test_jit_and_eager_agree_bit_for_bit(name):
  x = jnp.asarray(GRID)
  np.testing.assert_array_equal(jax.jit(lambda v: call(name, v))(x), call(name, x))


def test_subnormals_are_treated_as_in_jax_nn():
  # XLA:CPU flushes float32 subnormals to zero in arithmetic and comparisons, so such an x
  # takes the exactly-0 case: ELU's and SELU's alpha * x flushes to 0 with x's sign, as
  # jax.nn's does, and the gradient is the slope at 0, alpha. XLA:GPU keeps them: x > 0
  # selects x, and the negative branch is alpha * x (expm1(x) is x there), slope 1 and alpha.
  # CELU's is x itself either way. Everywhere the bits are jax.nn's.
  x = jnp.asarray([1e-40, -1e-40], jnp.float32)
  flushed = flushes_subnormals()
  kept = np.asarray(x) * np.asarray([1.0, 2.0], np.float32)  # numpy keeps subnormals
  for ours, theirs in ((jelu.elu(x, 2.0), jax.nn.elu(x, 2.0)), (jelu.selu(x), jax.nn.selu(x))):
    np.testing.assert_array_equal(np.asarray(ours).view(np.uint32),
                                  np.asarray(theirs).view(np.uint32))
    np.testing.assert_array_equal(np.signbit(ours), [False, True])
    assert (ours == 0).all() if flushed else (ours != 0).all()
  np.testing.assert_array_equal(jelu.elu(x, 2.0), [0.0, -0.0] if flushed else kept)
  np.testing.assert_array_equal(jelu.celu(x, 2.0), x)
  g = jax.vmap(jax.grad(jelu.elu))(x, jnp.full(2, 2.0))
  g_nn = jax.vmap(jax.grad(jax.nn.elu))(x, jnp.full(2, 2.0))
  np.testing.assert_array_equal(g, [2.0, 2.0] if flushed else [1.0, 2.0])
  np.testing.assert_array_equal(g, g_nn)


class _Wrapped:
  """Anything that hands JAX an array through ``__jax_array__`` (as nnx.Variable does)."""

  def __init__(self, value):
    self.value = value

  def __jax_array__(self):
    return self.value


def test_objects_with_jax_array_are_accepted_as_x_and_alpha():
  # ArrayLike does not name the protocol, hence the casts for the type checker.
  def wrap(value) -> jax.Array:
    return cast(jax.Array, _Wrapped(value))

  x = jnp.asarray(GRID)
  for name in ("elu", "selu", "celu"):
    np.testing.assert_array_equal(call(name, wrap(x)), call(name, x))
  for f in (jelu.elu, jelu.celu):
    np.testing.assert_array_equal(f(x, wrap(jnp.asarray(0.5))), f(x, 0.5))
    np.testing.assert_array_equal(f(wrap(x), wrap(np.float32(2.0))), f(x, 2.0))
  with pytest.raises(TypeError, match="x must be an array or a scalar"):
    jelu.elu(wrap("not an array"))


def test_alpha_of_either_zero_gives_jax_nns_signed_zero_in_any_order():
  x = jnp.asarray([-1.0, -3.0])
  for alpha in (-0.0, 0.0, -0.0):
    ours, theirs = jelu.elu(x, alpha), jax.nn.elu(x, alpha)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs), err_msg=str(alpha))


def test_the_tpus_program_is_the_same_function(case):
  # jelu._xla.signs_selected: XLA:TPU gets one select on x > 0 where the others get three
  # ways, and jelu._xla.smaller_on_tpu: SELU's positive branch from x's significand and CELU
  # with its quotient taken by 1 / alpha and one select on x. Run here on the CPU with the TPU's
  # branches taken, in a trace of its own: the same bits for every float32 high half with
  # the low halves 0 and 0x8001 (NaN, infinities, both zeros, subnormals) and the grid, and
  # the analytic slope. The cases' alphas are powers of two, whose reciprocal is exact; for
  # other alphas CELU's quotient rounds otherwise, and tests/test_accuracy.py holds the TPU's
  # CELU to the same bound. Subnormal inputs give what the three-way select gives on XLA:CPU
  # (CELU's, selected on x, pass through; how a TPU treats them is not run here); where the
  # backend keeps subnormals (XLA:GPU), SELU's positive branch from x's significand gives +0
  # for them instead, as a TPU, which flushes them, does.
  name, alpha = case
  a = jnp.asarray(ref.SELU_SCALE * ref.SELU_ALPHA if alpha is None else alpha, jnp.float32)
  high = np.arange(2**16, dtype=np.uint32) << 16
  bits = np.concatenate([high, high | 0x8001]).view(np.float32)
  x = np.concatenate([bits, GRID])
  primal = functools.partial(_activations._primal, kind=name)
  three_way = jax.jit(primal)(jnp.asarray(x), a)
  tpu = TheTpusBranches()
  with mock.patch.object(jax.lax, "platform_dependent", tpu):
    one_select = jax.jit(lambda v, a: primal(v, a))(jnp.asarray(x), a)
    slope = jax.jit(jax.vmap(jax.grad(primal), (0, None)))(jnp.asarray(GRID), a)
  assert tpu.taken >= 2  # the patch was consulted, the select's TPU branch taken in each trace
  one_select, three_way = np.asarray(one_select), np.asarray(three_way)
  nan = np.isnan(three_way)
  np.testing.assert_array_equal(np.isnan(one_select), nan)
  # SELU's positive branch from the significand gives +0 for subnormal x where the backend
  # keeps them.
  flushed = ~nan & subnormal(x) & (name == "selu") & (x > 0) & (not flushes_subnormals())
  compared = ~nan & ~flushed
  np.testing.assert_array_equal(one_select.view(np.uint32)[compared],
                                three_way.view(np.uint32)[compared])
  np.testing.assert_array_equal(one_select.view(np.uint32)[flushed], 0)
  expected = ref.DERIVS[name](GRID, 1.0 if alpha is None else alpha)
  np.testing.assert_allclose(slope, expected, rtol=2e-7, atol=4e-7)


def test_the_tpus_selu_scaling_is_scaled_linears_bit_for_bit():
  # jelu._expm1.scaled_significand, SELU's positive branch on XLA:TPU: lambda * x from x's
  # significand. For 1,044,480 positive float32 (every high half below NaN's, 32 random low
  # halves each), the largest and +inf, the same bits as scaled_linear's, which XLA:CPU and
  # XLA:GPU get. Subnormal x give 0 (as on a TPU, which flushes them), and scaled_linear's
  # too where the backend flushes them (XLA:CPU); XLA:GPU keeps its product. Every positive
  # float32 gives the same bits on this CPU too, which takes half a minute. (NaN is not > 0:
  # the activation never selects this branch for it.)
  rng = np.random.default_rng(0)
  high = np.arange(1, 0x7F80, dtype=np.uint32) << 16
  low = rng.integers(0, 2**16, (high.size, 32), dtype=np.uint32)
  bits = np.concatenate([(high[:, None] | low).ravel(), [0x7F7FFFFF, 0x7F800000]])
  x = jnp.asarray(bits.astype(np.uint32).view(np.float32))
  ours = jax.jit(lambda v: _expm1.scaled_significand(v, ref.SELU_SCALE))(x)
  general = jax.jit(lambda v: _expm1.scaled_linear(v, ref.SELU_SCALE))(x)
  ours_bits, general_bits = np.asarray(ours).view(np.uint32), np.asarray(general).view(np.uint32)
  compared = ~subnormal(x) | flushes_subnormals()
  np.testing.assert_array_equal(ours_bits[compared], general_bits[compared])
  np.testing.assert_array_equal(ours_bits[subnormal(x)], 0)
  assert ours[0] == 0 and np.isinf(ours[-2]) and np.isinf(ours[-1])  # a subnormal, max, +inf
  np.testing.assert_array_equal(
      jax.jit(jax.vmap(jax.grad(lambda v: _expm1.scaled_significand(v, ref.SELU_SCALE))))(
          jnp.asarray([1e-30, 0.5, 3.0, 1e30], jnp.float32)),
      np.full(4, np.float32(ref.SELU_SCALE)))

