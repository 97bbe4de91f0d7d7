"""Output dtypes follow jax.nn; 16-bit inputs are computed in float32 and rounded once."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu
from jelu._xla import narrowed_opaquely

import reference as ref
from helpers import call, call_jax_nn

INPUT_DTYPES = [jnp.float32, jnp.float16, jnp.bfloat16, jnp.int8, jnp.int32, jnp.uint8, jnp.bool_]
ALPHAS = {
    "python float": 1.5,
    "python int": 2,
    "float32 array": np.float32(1.5),
    "bfloat16 array": jnp.bfloat16(1.5),
}


@pytest.mark.parametrize("dtype", INPUT_DTYPES, ids=lambda d: jnp.dtype(d).name)
def test_output_dtype_matches_jax_nn(name, dtype):
  x = jnp.asarray([-2, 0, 3]).astype(dtype)
  assert call(name, x).dtype == call_jax_nn(name, x).dtype


@pytest.mark.parametrize("dtype", INPUT_DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("alpha", sorted(ALPHAS))
def test_output_dtype_with_alpha_matches_jax_nn(dtype, alpha):
  x = jnp.asarray([-2, 0, 3]).astype(dtype)
  a = jnp.asarray(ALPHAS[alpha]) if "array" in alpha else ALPHAS[alpha]
  for name in ("elu", "celu"):
    assert call(name, x, a).dtype == call_jax_nn(name, x, a).dtype, name


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.int32, jnp.bool_])
def test_output_dtype_under_x64_matches_jax_nn(x64, name, dtype):
  x = jnp.asarray([-2, 0, 3]).astype(dtype)
  assert call(name, x).dtype == call_jax_nn(name, x).dtype


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_python_float_alpha_keeps_16_bit_output(dtype):
  x = jnp.asarray([-1.0, 1.0], dtype)
  for name in ("elu", "celu"):
    assert call(name, x, 0.7).dtype == dtype


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_16_bit_values_are_the_float64_value_rounded_once(name, dtype):
  x = jnp.asarray(np.linspace(-8, 2, 2001), dtype)
  expected = {"elu": ref.elu, "selu": ref.selu, "celu": ref.celu}[name](np.asarray(x, np.float64))
  rounded_once = np.asarray(jnp.asarray(expected, jnp.float32).astype(dtype), np.float64)
  np.testing.assert_array_equal(np.asarray(call(name, x), np.float64), rounded_once)


def _float32_bit_patterns() -> np.ndarray:
  """Every bfloat16 and float16 neighbourhood: all 2**16 high halves with low halves at the
  rounding boundaries, and float32 values around float16's range and subnormals."""
  high = np.arange(2**16, dtype=np.uint32) << 16
  low = np.asarray([0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF], np.uint32)
  patterns = (high[:, None] | low[None, :]).ravel()
  near_half = np.asarray([2.0**-25, 2.0**-24, 3 * 2.0**-25, 2.0**-14, 65504, 65519.99, 65520],
                         np.float32)
  return np.concatenate([patterns.view(np.float32), near_half, -near_half])


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_the_gpu_rounding_is_xlas_rounding_bit_for_bit(dtype):
  # jelu._xla.narrowed runs this on XLA:GPU (this machine compiles the plain rounding), so it is
  # checked against astype here: every bit, NaN where NaN, and astype's tangent.
  v = jnp.asarray(_float32_bit_patterns())
  ours, plain = narrowed_opaquely(v, dtype), v.astype(dtype)
  nan = np.isnan(np.asarray(plain, np.float32))
  np.testing.assert_array_equal(np.isnan(np.asarray(ours, np.float32)), nan)
  np.testing.assert_array_equal(np.asarray(jax.lax.bitcast_convert_type(ours, jnp.uint16))[~nan],
                                np.asarray(jax.lax.bitcast_convert_type(plain, jnp.uint16))[~nan])
  t = jnp.linspace(-2.0, 3.0, v.size, dtype=jnp.float32)
  _, tangent = jax.jvp(lambda v: narrowed_opaquely(v, dtype), (v,), (t,))
  assert tangent.dtype == dtype
  np.testing.assert_array_equal(np.asarray(tangent, np.float32),
                                np.asarray(t.astype(dtype), np.float32))


def _lowered_per_platform(f, x) -> dict[str, str]:
  """``jax.jit(f)`` at ``x`` as StableHLO text, lowered for each platform jelu._xla tells apart."""
  traced = jax.jit(f).trace(x)
  return {p: traced.lower(lowering_platforms=(p,)).as_text()
          for p in ("cuda", "rocm", "cpu", "tpu")}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_each_backend_gets_its_own_16_bit_measure(dtype):
  # jelu._xla: the masked rounding (y and dx) is lowered for XLA:GPU only, the barrier on the
  # kept y for XLA:TPU only, and a float32 step gets neither.
  texts = _lowered_per_platform(jax.grad(lambda v: jelu.elu(v).astype(jnp.float32).sum()),
                                jnp.ones((4,), dtype))
  masked = {p: "xui16>" in t for p, t in texts.items()}
  barrier = {p: any("optimization_barrier" in line and "tensor<4x" in line
                    for line in t.splitlines()) for p, t in texts.items()}
  bf16 = dtype == jnp.bfloat16
  assert masked == {"cuda": bf16, "rocm": bf16, "cpu": False, "tpu": False}
  assert barrier == {"cuda": False, "rocm": False, "cpu": False, "tpu": bf16}


@pytest.mark.parametrize("f", [jelu.elu, jelu.selu, lambda v: jelu.celu(v, 1.5)],
                         ids=["elu", "selu", "celu"])
def test_every_backend_gets_the_same_float32_kernel(f):
  # One kernel for every backend: the float32 forward lowers to the same program for each.
  texts = _lowered_per_platform(f, jnp.ones((4,), jnp.float32))
  assert len(set(texts.values())) == 1, sorted(texts)


@pytest.mark.parametrize("residual", ["output", "input"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_only_the_cpu_divides_dx_by_an_opaque_one(dtype, residual):
  # jelu._xla.written_once_on_cpu: XLA:CPU's backward pass divides the rounded dx (ELU's
  # gradient has no other division) by a select between two ones behind a barrier.
  f = jax.grad(lambda v: jelu.elu(v, residual=residual).astype(jnp.float32).sum())
  texts = _lowered_per_platform(f, jnp.ones((4,), dtype))
  element = "f32" if dtype == jnp.float32 else "bf16"
  divisions = {p: len(re.findall(rf"stablehlo.divide .*: tensor<4x{element}>", t))
               for p, t in texts.items()}
  assert divisions == {"cuda": 0, "rocm": 0, "cpu": 1, "tpu": 0}


@pytest.mark.parametrize("f", [jelu.elu, jelu.celu], ids=["elu", "celu"])
def test_only_cuda_takes_the_alpha_gradients_expm1_from_xla(f):
  # jelu._xla.libdevice_expm1_on_gpu: XLA:GPU on CUDA sums g * expm1(min(x, 0)) with XLA's
  # own expm1 (CUDA's libdevice), the others with jelu._expm1.expm1_neg's polynomial.
  texts = _lowered_per_platform(lambda v: jax.grad(lambda a: f(v, a).sum())(jnp.float32(1.5)),
                                jnp.ones((4,), jnp.float32))
  expm1 = {p: len(re.findall(r"stablehlo.exponential_minus_one .*tensor<4xf32>", t))
           for p, t in texts.items()}
  assert expm1 == {"cuda": 1, "rocm": 0, "cpu": 0, "tpu": 0}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16])
def test_gradient_dtype_is_the_input_dtype(name, dtype):
  x = jnp.asarray([-1.0, 0.5], dtype)
  g = jax.grad(lambda v: call(name, v).astype(jnp.float32).sum())(x)
  assert g.dtype == dtype


def test_alpha_gradient_dtype_is_alphas():
  x = jnp.asarray([-1.0, 0.5], jnp.bfloat16)
  a = jnp.asarray(1.5, jnp.float32)
  g = jax.grad(lambda a: call("elu", x, a).sum())(a)
  assert g.dtype == jnp.float32


# Inputs of every kind a user passes: python numbers, numpy scalars and arrays,
# weakly and strongly typed jax arrays.
INPUT_KINDS = {
    "python float": -1.0,
    "python int": 2,
    "python bool": True,
    "numpy int32 scalar": np.int32(-3),
    "numpy float32 scalar": np.float32(-1.0),
    "numpy int array": np.array([-1, 2]),
    "weak jax float": jnp.asarray(-1.0),
    "strong jax float32": jnp.float32(-1.0),
    "jax bfloat16": jnp.asarray([-1.0, 1.0], jnp.bfloat16),
}


@pytest.mark.parametrize("kind", sorted(INPUT_KINDS))
def test_weak_type_and_dtype_match_jax_nn_for_every_input_kind(name, kind):
  ours, theirs = call(name, INPUT_KINDS[kind]), call_jax_nn(name, INPUT_KINDS[kind])
  assert (ours.dtype, jax.typeof(ours).weak_type) == (theirs.dtype, jax.typeof(theirs).weak_type)


@pytest.mark.parametrize("alpha", sorted(ALPHAS))
@pytest.mark.parametrize("kind", ["python float", "python int", "jax bfloat16"])
def test_weak_type_with_alpha_matches_jax_nn(kind, alpha):
  a = jnp.asarray(ALPHAS[alpha]) if "array" in alpha else ALPHAS[alpha]
  for name in ("elu", "celu"):
    ours, theirs = call(name, INPUT_KINDS[kind], a), call_jax_nn(name, INPUT_KINDS[kind], a)
    assert ours.dtype == theirs.dtype, name
    assert jax.typeof(ours).weak_type == jax.typeof(theirs).weak_type, name


def test_a_python_scalar_result_takes_the_other_operands_dtype():
  # Weakly typed like jax.nn's, so it does not promote a bfloat16 neighbour to float32.
  for name in ("elu", "selu", "celu"):
    assert (call(name, 1.0) + jnp.bfloat16(1)).dtype == jnp.bfloat16
    assert (call(name, 2) + jnp.bfloat16(1)).dtype == jnp.bfloat16
  # Under jit too, and a strongly typed input stays strong.
  assert jax.typeof(jax.jit(jelu.elu)(-1.0)).weak_type
  assert not jax.typeof(jelu.elu(jnp.float32(-1.0))).weak_type


@pytest.mark.parametrize("alpha", [0.5, jnp.asarray(0.5), jnp.float32(0.5)],
                         ids=["python float", "weak array", "float32 array"])
def test_alpha_gradient_weak_type_matches_jax_nn(alpha):
  for f, f_nn in ((jelu.elu, jax.nn.elu), (jelu.celu, jax.nn.celu)):
    ours = jax.grad(lambda a, f=f: f(jnp.asarray([-1.5, 0.5]), a).sum())(alpha)
    theirs = jax.grad(lambda a, f=f_nn: f(jnp.asarray([-1.5, 0.5]), a).sum())(alpha)
    assert ours.dtype == theirs.dtype
    assert jax.typeof(ours).weak_type == jax.typeof(theirs).weak_type
