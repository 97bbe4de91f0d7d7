"""The backward pass keeps the output and nothing else of x's size."""

import jax
import jax.numpy as jnp
import pytest

import jelu

from helpers import call, saved


def nonempty(lines):
  # A zero-size stand-in is saved where alpha is not differentiated (it costs
  # no bytes; see _elu_family_fwd), so count only arrays that hold data.
  return [line for line in lines if not line.split()[0].endswith("[0]")]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_only_the_output_is_saved(name, dtype):
  x = jnp.linspace(-3, 3, 1024, dtype=dtype)
  lines = nonempty(saved(lambda v: call(name, v), x))
  short = {jnp.float32: "f32", jnp.bfloat16: "bf16", jnp.float16: "f16"}[dtype]
  assert len(lines) == 1, lines
  assert lines[0].startswith(f"{short}[1024] output of"), lines


def test_per_channel_alpha_saves_the_output_and_alpha_only():
  x = jnp.ones((64, 8))
  alpha = jnp.linspace(0.5, 2.0, 8)
  lines = nonempty(saved(lambda v: jelu.elu(v, alpha), x))
  assert sorted(line.split()[0] for line in lines) == ["f32[64,8]", "f32[8]"], lines


def test_jax_nn_saves_several_arrays_where_jelu_saves_one():
  x = jnp.linspace(-3, 3, 1024)
  assert len(nonempty(saved(jax.nn.elu, x))) >= 3
  assert len(nonempty(saved(jelu.elu, x))) == 1


def test_differentiated_alpha_keeps_x_instead_of_y():
  # A learnable alpha's gradient needs x where y saturates, so x is saved, and the
  # slope is recomputed from it rather than keeping y as well.
  x = jnp.linspace(-3, 3, 1024)
  lines = nonempty(saved(jelu.elu, x, 1.5))
  shapes = sorted(line.split()[0] for line in lines)
  assert shapes == ["f32[1024]", "f32[]"], lines
  assert any("from the argument" in line for line in lines if line.startswith("f32[1024]"))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_input_residual_saves_only_the_input(name, dtype):
  x = jnp.linspace(-3, 3, 1024, dtype=dtype)
  f = {"elu": jelu.elu, "selu": jelu.selu, "celu": jelu.celu}[name]
  lines = nonempty(saved(lambda v: f(v, residual="input"), x))
  short = {jnp.float32: "f32", jnp.bfloat16: "bf16"}[dtype]
  assert [line.split()[0] for line in lines] == [f"{short}[1024]"], lines
  assert "from the argument" in lines[0], lines


def test_a_dense_stack_keeps_one_computed_array_per_activation():
  # Dense -> act -> Dense: the second matmul keeps the activation output for its
  # weight gradient; jelu's backward pass shares it. Inputs and weights are kept
  # as they are (from an argument or a constant), so only computed arrays count.
  k1, k2 = jax.random.split(jax.random.key(0))
  w1, w2 = jax.random.normal(k1, (32, 64)), jax.random.normal(k2, (64, 16))
  x = jax.random.normal(k1, (128, 32))

  def computed(act):
    lines = nonempty(saved(lambda w1, w2: (act(x @ w1) @ w2).sum(), w1, w2))
    return [line.split()[0] for line in lines
            if "from the argument" not in line and "from a constant" not in line]

  assert computed(jelu.elu) == ["f32[128,64]"]
  assert len(computed(jax.nn.elu)) >= 3
