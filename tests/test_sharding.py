"""jelu on a 4 x 2 device mesh: shardings kept, no collectives, shard_map, a sharded train step.

The mesh is made of host CPU devices; tests/conftest.py sets their count
(``jax_num_cpu_devices``) before JAX starts its CPU backend. On a machine with a GPU the
module's unsharded references run on the host CPU too.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jelu
from jelu import linen as jnn

FORBIDDEN = ("all-gather", "all-to-all", "collective-permute")
SPEC = P("data", "model")
FUNCTIONS = {"elu": jelu.elu, "selu": jelu.selu, "celu": lambda v: jelu.celu(v, 0.5)}
X_HOST = np.linspace(-4, 3, 16 * 8, dtype=np.float32).reshape(16, 8)


@pytest.fixture(scope="module", autouse=True)
def on_the_host():
  with jax.default_device(jax.devices("cpu")[0]):
    yield


@pytest.fixture(scope="module")
def mesh():
  return jax.make_mesh((4, 2), ("data", "model"), axis_types=(jax.sharding.AxisType.Auto,) * 2,
                       devices=jax.devices("cpu"))


@pytest.fixture(scope="module")
def x(mesh):
  return jax.device_put(X_HOST, NamedSharding(mesh, SPEC))


def collectives(f, *args):
  hlo = jax.jit(f).lower(*args).compile().as_text()
  assert hlo is not None
  return [c for c in FORBIDDEN if c in hlo]


def sum_of(f):
  return lambda v: f(v).sum()


def weighted_elu_loss(v, a):
  return (jelu.elu(v, a) * jnp.cos(v)).sum()


def test_eight_host_devices_are_available():
  assert len(jax.devices("cpu")) == 8


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_output_and_gradient_keep_the_input_sharding(x, name):
  f = FUNCTIONS[name]
  assert jax.jit(f)(x).sharding.spec == SPEC
  assert jax.jit(jax.grad(sum_of(f)))(x).sharding.spec == SPEC


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_compiled_forward_and_value_and_grad_have_no_gather_or_permute(x, name):
  f = FUNCTIONS[name]
  assert collectives(f, x) == []
  assert collectives(jax.value_and_grad(sum_of(f)), x) == []


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_sharded_results_equal_unsharded(x, name):
  f = FUNCTIONS[name]
  np.testing.assert_array_equal(jax.jit(f)(x), f(jnp.asarray(X_HOST)))
  np.testing.assert_array_equal(jax.jit(jax.grad(sum_of(f)))(x),
                                jax.grad(sum_of(f))(jnp.asarray(X_HOST)))


def test_per_channel_alpha_sharded_over_model(mesh, x):
  alpha_host = np.linspace(0.5, 2.0, 8, dtype=np.float32)
  alpha = jax.device_put(alpha_host, NamedSharding(mesh, P("model")))
  y = jax.jit(jelu.elu)(x, alpha)
  assert y.sharding.spec == SPEC
  # Within an ulp, not bit for bit: XLA:CPU's LLVM contracts the kernel's products into
  # multiply-adds as it chooses, and the partitioned program may be contracted otherwise
  # (jax 0.12: 2 of 128 values differ in the last bit).
  np.testing.assert_array_max_ulp(y, jelu.elu(jnp.asarray(X_HOST), alpha_host), maxulp=1)
  grad_alpha = jax.jit(jax.grad(weighted_elu_loss, argnums=1))(x, alpha)
  expected = jax.grad(weighted_elu_loss, argnums=1)(jnp.asarray(X_HOST), jnp.asarray(alpha_host))
  np.testing.assert_allclose(grad_alpha, expected, rtol=0, atol=1e-5)


def test_shard_map_and_grad_through_it(mesh, x):
  sm = jax.shard_map(jelu.elu, mesh=mesh, in_specs=SPEC, out_specs=SPEC)
  np.testing.assert_array_equal(jax.jit(sm)(x), jelu.elu(jnp.asarray(X_HOST)))
  grad = jax.jit(jax.grad(lambda v: (sm(v) * jnp.cos(v)).sum()))(x)
  expected = jax.grad(lambda v: weighted_elu_loss(v, 1.0))(jnp.asarray(X_HOST))
  np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-6)


def test_shard_map_grad_of_a_replicated_alpha_sums_over_shards(mesh, x):
  sm = jax.shard_map(jelu.elu, mesh=mesh, in_specs=(SPEC, P()), out_specs=SPEC)
  grad = jax.jit(jax.grad(lambda a: (sm(x, a) * jnp.cos(x)).sum()))(1.5)
  expected = jax.grad(lambda a: weighted_elu_loss(jnp.asarray(X_HOST), a))(1.5)
  np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-5)


class MLP(nn.Module):
  @nn.compact
  def __call__(self, v):
    v = jnn.ELU()(nn.Dense(32)(v))
    v = jnn.SELU()(nn.Dense(32)(v))
    return nn.Dense(4)(v)


def test_data_and_model_parallel_linen_train_step(mesh):
  model = MLP()
  batch = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
  target = np.sin(batch[:, :4])
  params = model.init(jax.random.key(0), batch)

  def train_step(params, v, t):
    def mse(p):
      return jnp.mean((model.apply(p, v) - t) ** 2)

    value, grads = jax.value_and_grad(mse)(params)
    return value, jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)

  def model_parallel(leaf):
    # Kernels and biases split over "model" along their output dimension.
    return NamedSharding(mesh, P(*([None] * (leaf.ndim - 1)), "model"))

  sharded_params = jax.tree.map(lambda p: jax.device_put(p, model_parallel(p)), params)
  data = NamedSharding(mesh, P("data"))
  loss_sharded, new_sharded = jax.jit(train_step)(
      sharded_params, jax.device_put(batch, data), jax.device_put(target, data))
  loss_plain, new_plain = train_step(params, jnp.asarray(batch), jnp.asarray(target))
  assert float(loss_sharded) > 0
  np.testing.assert_allclose(loss_sharded, loss_plain, rtol=0, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-5),
               new_sharded, new_plain)
  assert new_sharded["params"]["Dense_0"]["kernel"].sharding.spec == P(None, "model")
