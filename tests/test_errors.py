"""Bad input raises a clear error before tracing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu


@pytest.mark.parametrize("f", [jelu.elu, jelu.selu, jelu.celu])
@pytest.mark.parametrize("bad", ["1.0", [1.0, 2.0], None, {"x": 1}])
def test_non_arrays_raise_type_error(f, bad):
  with pytest.raises(TypeError, match="x must be an array or a scalar"):
    f(bad)


@pytest.mark.parametrize("f", [jelu.elu, jelu.selu, jelu.celu])
def test_complex_input_raises_type_error(f):
  with pytest.raises(TypeError, match="must be real"):
    f(jnp.ones(3, jnp.complex64))
  with pytest.raises(TypeError, match="must be real"):
    f(1j)


@pytest.mark.parametrize("f", [jelu.elu, jelu.celu])
@pytest.mark.parametrize("alpha", [-1.0, np.nan, np.inf, -np.inf, np.array([1.0, -0.5])])
def test_bad_alpha_values_raise_value_error(f, alpha):
  with pytest.raises(ValueError, match="alpha must be finite"):
    f(jnp.ones(2), alpha)


def test_celu_alpha_zero_raises_but_elu_alpha_zero_is_relu():
  with pytest.raises(ValueError, match="> 0"):
    jelu.celu(jnp.ones(2), 0.0)
  np.testing.assert_array_equal(jelu.elu(jnp.asarray([-2.0, 3.0]), 0.0), [0.0, 3.0])


@pytest.mark.parametrize("f", [jelu.elu, jelu.celu])
def test_complex_or_string_alpha_raises_type_error(f):
  with pytest.raises(TypeError, match="alpha must be real"):
    f(jnp.ones(2), 1.0 + 1j)
  with pytest.raises(TypeError, match="alpha must be an array or a scalar"):
    f(jnp.ones(2), "1.0")


@pytest.mark.parametrize("f", [jelu.elu, jelu.celu])
def test_alpha_that_does_not_broadcast_to_x_names_both_shapes(f):
  with pytest.raises(ValueError, match=r"alpha of shape \(4,\).*x of shape \(2, 3\)"):
    f(jnp.ones((2, 3)), jnp.ones(4))
  # Broadcasting that would grow x is refused too: the activation is elementwise in x.
  with pytest.raises(ValueError, match=r"alpha of shape \(2, 3\).*x of shape \(3,\)"):
    f(jnp.ones(3), jnp.ones((2, 3)))


def test_concrete_alpha_is_checked_inside_jit():
  # x is traced here, alpha is a concrete python float: jelu still checks it.
  with pytest.raises(ValueError, match="alpha must be finite"):
    jax.jit(lambda x: jelu.elu(x, -1.0))(jnp.ones(2))


def test_traced_alpha_is_not_checked():
  # A traced alpha cannot be inspected: a negative one goes through unchecked.
  y = jax.jit(lambda a: jelu.elu(jnp.asarray([-1.0]), a))(-1.0)
  np.testing.assert_allclose(y, [-np.expm1(-1.0)], rtol=1e-6)


def test_a_large_bad_alpha_is_reported_by_count_and_first_index():
  alpha = np.ones(10_000)
  alpha[1234], alpha[5000] = -2.0, np.nan
  with pytest.raises(ValueError) as info:
    jelu.elu(jnp.ones((3, 10_000)), alpha)
  message = str(info.value)
  assert "2 of 10000 entries" in message and "(1234,): -2.0" in message
  assert "\n" not in message and len(message) < 200


def test_public_docstrings_state_the_forward_mode_limit():
  for f in (jelu.elu, jelu.selu, jelu.celu):
    assert f.__doc__ is not None and "jax.jacfwd" in f.__doc__ and "jax.jacrev" in f.__doc__


@pytest.mark.parametrize("f", [jelu.elu, jelu.celu])
def test_a_device_alpha_is_not_read_on_the_host(f):
  # Reading a jax array's value would copy it from the device and wait for it on
  # every call; jelu checks python and numpy alphas only (see the kernel's docs
  # for what a bad device alpha gives).
  x = jnp.linspace(-2.0, 2.0, 6).reshape(2, 3)
  for alpha in (jnp.asarray(0.5), jnp.asarray([0.5, 1.0, 2.0])):
    with jax.transfer_guard_device_to_host("disallow"):
      y = f(x, alpha)
    np.testing.assert_allclose(y, f(x, np.asarray(alpha)), rtol=0)


def test_the_same_bad_alpha_raises_from_numpy_but_not_from_a_device_array():
  with pytest.raises(ValueError, match="alpha must be finite and >= 0"):
    jelu.elu(jnp.ones(2), np.float32(-0.5))
  assert np.isnan(jax.grad(lambda v: jelu.elu(v, jnp.asarray(-0.5)).sum())(-jnp.ones(2))).all()


def test_dtype_and_shape_errors_are_raised_when_traced_under_jit():
  # Dtypes and shapes are read when the function is traced, so they are checked
  # for tracers too.
  with pytest.raises(TypeError, match="elu: x must be real"):
    jax.jit(jelu.elu)(jnp.ones(2, jnp.complex64))
  with pytest.raises(ValueError, match=r"celu: alpha of shape \(3,\)"):
    jax.jit(jelu.celu)(jnp.ones((2, 4)), jnp.ones(3))


def test_bad_residual_of_any_type_is_a_value_error():
  with pytest.raises(ValueError, match="residual must be one of"):
    jelu.elu(jnp.ones(2), residual=["output"])  # pyright: ignore[reportArgumentType]


def test_numpy_string_and_object_arrays_are_refused_by_name():
  with pytest.raises(TypeError, match="elu: x must be real"):
    jelu.elu(np.array(["a"]))
  with pytest.raises(TypeError, match="celu: alpha must be real"):
    jelu.celu(jnp.ones(2), np.array([object()]))


def test_subclasses_of_python_numbers_are_checked_as_numbers():
  class Alpha(float):
    pass

  with pytest.raises(ValueError, match="alpha must be finite and >= 0"):
    jelu.elu(jnp.ones(2), Alpha(-1.0))
  with pytest.raises(ValueError, match="alpha must be finite and > 0"):
    jelu.celu(jnp.ones(2), Alpha("nan"))
