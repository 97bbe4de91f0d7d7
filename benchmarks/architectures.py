"""The networks the memory benchmark and tests/test_memory.py measure, as flax linen modules.

Each entry of ``ARCHITECTURES`` builds a module around an activation and gives the input
shape at a batch size: the shapes real models use (a transformer's ``[batch, seq,
features]``, NHWC images), with the layers that sit around an activation there (LayerNorm
and a residual, BatchNorm, GroupNorm, token mixing). ``step_temp_bytes`` compiles one
training step, ``jax.jit(jax.grad(loss))``, and reads its temporary memory from XLA's
memory analysis, which is deterministic. ``dtype=jnp.bfloat16`` builds every flax layer with
that compute dtype (parameters stay float32): the mixed precision people train in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

import jelu


class MLP(nn.Module):
  """``depth`` x (Dense(features -> hidden), act, Dense(hidden -> features)), optionally
  pre-LayerNorm with a residual around each block (a transformer's MLP block)."""

  act: Callable
  hidden: int
  depth: int = 4
  pre_norm: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, x):
    dense = functools.partial(nn.Dense, dtype=self.dtype)
    for _ in range(self.depth):
      h = nn.LayerNorm(dtype=self.dtype)(x) if self.pre_norm else x
      h = dense(x.shape[-1])(self.act(dense(self.hidden)(h)))
      x = x + h if self.pre_norm else h
    return x


class CNN(nn.Module):
  """3x3 convolutions with ``channels`` features each, ``norm`` (or nothing) before act;
  with ``head``, a classifier's global mean pool and Dense(10) after the last activation
  (without, the loss reads that activation itself)."""

  act: Callable
  channels: tuple[int, ...]
  norm: str = ""
  groups: int = 32
  dtype: Any = None
  head: bool = False

  @nn.compact
  def __call__(self, x):
    for c in self.channels:
      x = nn.Conv(c, (3, 3), dtype=self.dtype)(x)
      if self.norm == "batch":
        x = nn.BatchNorm(use_running_average=False, dtype=self.dtype)(x)
      elif self.norm == "group":
        x = nn.GroupNorm(num_groups=self.groups, dtype=self.dtype)(x)
      x = self.act(x)
    if self.head:
      x = nn.Dense(10, dtype=self.dtype)(jnp.mean(x, axis=(1, 2)))
    return x


class Mixer(nn.Module):
  """MLP-Mixer blocks: token mixing (Dense across the sequence axis) then channel mixing,
  each pre-LayerNorm with a residual."""

  act: Callable
  depth: int = 2
  dtype: Any = None

  @nn.compact
  def __call__(self, x):
    tokens, channels = x.shape[-2:]
    dense = functools.partial(nn.Dense, dtype=self.dtype)
    norm = functools.partial(nn.LayerNorm, dtype=self.dtype)
    for _ in range(self.depth):
      h = jnp.swapaxes(norm()(x), -1, -2)
      h = dense(tokens)(self.act(dense(2 * tokens)(h)))
      x = x + jnp.swapaxes(h, -1, -2)
      h = norm()(x)
      x = x + dense(channels)(self.act(dense(4 * channels)(h)))
    return x


class Architecture(NamedTuple):
  """A network around an activation, and its input's shape at a given batch size."""

  describe: str
  build: Callable[[Callable, Any], nn.Module]
  shape: Callable[[int], tuple[int, ...]]
  batch: int


def architectures(scale: int = 1, head: bool = False) -> dict[str, Architecture]:
  """The measured networks; ``scale`` divides every width and batch (tests use small ones).

  ``head`` gives the CNNs a classifier's head (benchmarks/classifier_head.py)."""
  s = scale
  return {
      "mlp-2d": Architecture(
          f"4 x (Dense {512 // s}->{2048 // s}, act, Dense {2048 // s}->{512 // s}), "
          f"x [batch, {512 // s}]",
          lambda act, dt: MLP(act, 2048 // s, dtype=dt), lambda b: (b, 512 // s), 4096 // s),
      "mlp-3d": Architecture(
          "the same on x [batch, seq, features]",
          lambda act, dt: MLP(act, 2048 // s, dtype=dt), lambda b: (b, 512 // s, 512 // s), 8),
      "pre-ln": Architecture(
          "the same with pre-LayerNorm and a residual (a transformer's MLP block)",
          lambda act, dt: MLP(act, 2048 // s, pre_norm=True, dtype=dt),
          lambda b: (b, 512 // s, 512 // s), 8),
      "mixer": Architecture(
          f"2 MLP-Mixer blocks (token and channel mixing), x [batch, {256 // s}, {256 // s}]",
          lambda act, dt: Mixer(act, dtype=dt), lambda b: (b, 256 // s, 256 // s), 16),
      "cnn": Architecture(
          f"4 x (Conv 3x3 -> act), channels {64 // s},{64 // s},{128 // s},{128 // s}, "
          "x [batch, 32, 32, 3]",
          lambda act, dt: CNN(act, (64 // s, 64 // s, 128 // s, 128 // s), dtype=dt, head=head),
          lambda b: (b, 32, 32, 3), 64 // s),
      "cnn-bn": Architecture(
          "the same with BatchNorm before each activation",
          lambda act, dt: CNN(act, (64 // s, 64 // s, 128 // s, 128 // s), norm="batch",
                              dtype=dt, head=head),
          lambda b: (b, 32, 32, 3), 64 // s),
      "cnn-gn": Architecture(
          f"the same with GroupNorm({32 // s}) before each activation",
          lambda act, dt: CNN(act, (64 // s, 64 // s, 128 // s, 128 // s), norm="group",
                              groups=32 // s, dtype=dt, head=head),
          lambda b: (b, 32, 32, 3), 64 // s),
  }


# The activations every network is measured with; `residual="input"` is jelu's choice after a
# normalisation layer (see jelu.elu).
ACTIVATIONS: dict[str, Callable] = {
    "jelu.elu": jelu.elu,
    "jelu.elu input": functools.partial(jelu.elu, residual="input"),
    "jax.nn.elu": jax.nn.elu,
    "jelu.selu": jelu.selu,
    "jelu.selu input": functools.partial(jelu.selu, residual="input"),
    "jax.nn.selu": jax.nn.selu,
    "jelu.celu": jelu.celu,
    "jelu.celu input": functools.partial(jelu.celu, residual="input"),
    "jax.nn.celu": jax.nn.celu,
    "jax.nn.relu": jax.nn.relu,
    "jax.nn.gelu": jax.nn.gelu,
    # No activation at all: the least any network can need.
    "identity": lambda x: x,
}


def jax_nn_counterpart(act_name: str) -> str | None:
  """jax.nn's activation for a jelu one ("jelu.elu input" -> "jax.nn.elu"); None for others."""
  if not act_name.startswith("jelu."):
    return None
  return "jax.nn." + act_name.split(".", 1)[1].split()[0]


def train_step(arch: Architecture, act: Callable, batch: int | None = None, dtype: Any = None):
  """(jitted gradient step, its arguments) for ``arch`` around ``act``, layers in ``dtype``."""
  model = arch.build(act, dtype)
  x = jax.random.normal(jax.random.key(1), arch.shape(batch or arch.batch))
  variables = model.init(jax.random.key(0), x)
  mutable = ["batch_stats"] if "batch_stats" in variables else False

  def loss(variables, x):
    out = model.apply(variables, x, mutable=mutable)
    out = out[0] if mutable else out
    return jnp.mean(out.astype(jnp.float32) ** 2)

  return jax.jit(jax.grad(loss)), (variables, x)


def step_temp_bytes(arch: Architecture, act: Callable, batch: int | None = None,
                    dtype: Any = None) -> int:
  """Temporary bytes of the compiled training step, from XLA's memory analysis."""
  step, args = train_step(arch, act, batch, dtype)
  return step.lower(*args).compile().memory_analysis().temp_size_in_bytes
