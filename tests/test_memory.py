"""Compiled train-step memory: jelu costs what a network without activations costs.

Memory analysis of a compiled program is deterministic, so these are fair tests;
timing lives in benchmarks/.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu

BATCH, WIDTH, DEPTH = 256, 128, 8


def step_temp_bytes(act):
  keys = jax.random.split(jax.random.key(0), DEPTH + 1)
  ws = [jax.random.normal(k, (WIDTH, WIDTH)) / np.sqrt(WIDTH) for k in keys[:-1]]
  head = jax.random.normal(keys[-1], (WIDTH, 10))
  x = jnp.ones((BATCH, WIDTH))

  def loss(ws, head):
    h = x
    for w in ws:
      h = act(h @ w)
    return jnp.mean((h @ head) ** 2)

  compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(ws, head).compile()
  return compiled.memory_analysis().temp_size_in_bytes


@pytest.mark.parametrize("act", [jelu.elu, jelu.selu, jelu.celu], ids=["elu", "selu", "celu"])
def test_train_step_temp_bytes_at_most_relus_and_below_jax_nn(act):
  ours = step_temp_bytes(act)
  assert ours <= step_temp_bytes(jax.nn.relu)
  assert ours < step_temp_bytes({jelu.elu: jax.nn.elu, jelu.selu: jax.nn.selu,
                                 jelu.celu: jax.nn.celu}[act])


def test_train_step_temp_bytes_equal_a_network_without_activations():
  assert step_temp_bytes(jelu.elu) == step_temp_bytes(lambda h: h)
