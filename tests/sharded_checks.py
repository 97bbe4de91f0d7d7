"""Runs jelu on a 4 x 2 mesh of host CPU devices and prints what it saw as JSON.

Run by tests/test_sharding.py in a subprocess, because the device count must be
set (XLA_FLAGS) before jax starts.
"""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8")

import json  # noqa: E402

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jelu  # noqa: E402
from jelu import linen as jnn  # noqa: E402

FORBIDDEN = ("all-gather", "all-to-all", "collective-permute")
mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
spec = P("data", "model")
x_host = np.linspace(-4, 3, 16 * 8, dtype=np.float32).reshape(16, 8)
x = jax.device_put(x_host, NamedSharding(mesh, spec))


def max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def collectives(f, *args):
  hlo = jax.jit(f).lower(*args).compile().as_text()
  return [c for c in FORBIDDEN if c in hlo]


def loss(v):
  return (jelu.elu(v) * jnp.cos(v)).sum()


results = {"devices": jax.device_count()}
for name, f in (("elu", jelu.elu), ("selu", jelu.selu), ("celu", lambda v: jelu.celu(v, 0.5))):
  y = jax.jit(f)(x)
  g = jax.jit(jax.grad(lambda v, f=f: f(v).sum()))(x)
  results[name] = {
      "out_spec": str(y.sharding.spec), "grad_spec": str(g.sharding.spec),
      "value_diff": max_diff(y, f(jnp.asarray(x_host))),
      "grad_diff": max_diff(g, jax.grad(lambda v, f=f: f(v).sum())(jnp.asarray(x_host))),
      "fwd_collectives": collectives(f, x),
      "value_and_grad_collectives": collectives(
          jax.value_and_grad(lambda v, f=f: f(v).sum()), x),
  }

per_channel = jax.device_put(np.linspace(0.5, 2.0, 8, dtype=np.float32),
                             NamedSharding(mesh, P("model")))


def elu_alpha_loss(v, a):
  return (jelu.elu(v, a) * jnp.cos(v)).sum()


y_pc = jax.jit(jelu.elu)(x, per_channel)
ga_pc = jax.jit(jax.grad(elu_alpha_loss, argnums=1))(x, per_channel)
results["per_channel"] = {
    "out_spec": str(y_pc.sharding.spec),
    "value_diff": max_diff(y_pc, jelu.elu(jnp.asarray(x_host), np.asarray(per_channel))),
    "alpha_grad_diff": max_diff(ga_pc, jax.grad(elu_alpha_loss, argnums=1)(
        jnp.asarray(x_host), jnp.asarray(np.asarray(per_channel)))),
}

sm = jax.shard_map(jelu.elu, mesh=mesh, in_specs=spec, out_specs=spec)
sm_alpha = jax.shard_map(jelu.elu, mesh=mesh, in_specs=(spec, P()), out_specs=spec)
results["shard_map"] = {
    "value_diff": max_diff(jax.jit(sm)(x), jelu.elu(jnp.asarray(x_host))),
    "grad_diff": max_diff(jax.jit(jax.grad(lambda v: (sm(v) * jnp.cos(v)).sum()))(x),
                          jax.grad(loss)(jnp.asarray(x_host))),
    "replicated_alpha_grad_diff": max_diff(
        jax.jit(jax.grad(lambda a: (sm_alpha(x, a) * jnp.cos(x)).sum()))(1.5),
        jax.grad(lambda a: elu_alpha_loss(jnp.asarray(x_host), a))(1.5)),
}


class MLP(nn.Module):
  @nn.compact
  def __call__(self, v):
    v = jnn.ELU()(nn.Dense(32)(v))
    v = jnn.SELU()(nn.Dense(32)(v))
    return nn.Dense(4)(v)


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
results["train_step"] = {
    "loss": float(loss_sharded),
    "loss_diff": abs(float(loss_sharded) - float(loss_plain)),
    "param_diff": max(jax.tree.leaves(jax.tree.map(max_diff, new_sharded, new_plain))),
    "kernel_spec": str(new_sharded["params"]["Dense_0"]["kernel"].sharding.spec),
}
print(json.dumps(results))
