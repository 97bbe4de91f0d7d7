"""The networks the memory benchmark and tests/test_memory.py measure, as flax linen modules.

Each entry of ``ARCHITECTURES`` builds a module around an activation and gives the input
shape at a batch size: the shapes real models use (a transformer's ``[batch, seq,
features]``, NHWC images), with the layers that sit around an activation there (LayerNorm
and a residual, BatchNorm, GroupNorm, token mixing). ``step_temp_bytes`` compiles one
training step, ``jax.jit(jax.grad(loss))``, and reads its temporary memory from XLA's
memory analysis, which is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
  """``depth`` x (Dense(features -> hidden), act, Dense(hidden -> features)), optionally
  pre-LayerNorm with a residual around each block (a transformer's MLP block)."""

  act: Callable
  hidden: int
  depth: int = 4
  pre_norm: bool = False

  @nn.compact
  def __call__(self, x):
    for _ in range(self.depth):
      h = nn.LayerNorm()(x) if self.pre_norm else x
      h = nn.Dense(x.shape[-1])(self.act(nn.Dense(self.hidden)(h)))
      x = x + h if self.pre_norm else h
    return x


class CNN(nn.Module):
  """3x3 convolutions with ``channels`` features each, ``norm`` (or nothing) before act."""

  act: Callable
  channels: tuple[int, ...]
  norm: str = ""
  groups: int = 32

  @nn.compact
  def __call__(self, x):
    for c in self.channels:
      x = nn.Conv(c, (3, 3))(x)
      if self.norm == "batch":
        x = nn.BatchNorm(use_running_average=False)(x)
      elif self.norm == "group":
        x = nn.GroupNorm(num_groups=self.groups)(x)
      x = self.act(x)
    return x


class Mixer(nn.Module):
  """MLP-Mixer blocks: token mixing (Dense across the sequence axis) then channel mixing,
  each pre-LayerNorm with a residual."""

  act: Callable
  depth: int = 2

  @nn.compact
  def __call__(self, x):
    tokens, channels = x.shape[-2:]
    for _ in range(self.depth):
      h = jnp.swapaxes(nn.LayerNorm()(x), -1, -2)
      h = nn.Dense(tokens)(self.act(nn.Dense(2 * tokens)(h)))
      x = x + jnp.swapaxes(h, -1, -2)
      h = nn.LayerNorm()(x)
      x = x + nn.Dense(channels)(self.act(nn.Dense(4 * channels)(h)))
    return x


class Architecture(NamedTuple):
  """A network around an activation, and its input's shape at a given batch size."""

  describe: str
  build: Callable[[Callable], nn.Module]
  shape: Callable[[int], tuple[int, ...]]
  batch: int


def architectures(scale: int = 1) -> dict[str, Architecture]:
  """The measured networks; ``scale`` divides every width and batch (tests use small ones)."""
  s = scale
  return {
      "mlp-2d": Architecture(
          f"4 x (Dense {512 // s}->{2048 // s}, act, Dense {2048 // s}->{512 // s}), "
          f"x [batch, {512 // s}]",
          lambda act: MLP(act, 2048 // s), lambda b: (b, 512 // s), 4096 // s),
      "mlp-3d": Architecture(
          "the same on x [batch, seq, features]",
          lambda act: MLP(act, 2048 // s), lambda b: (b, 512 // s, 512 // s), 8),
      "pre-ln": Architecture(
          "the same with pre-LayerNorm and a residual (a transformer's MLP block)",
          lambda act: MLP(act, 2048 // s, pre_norm=True), lambda b: (b, 512 // s, 512 // s), 8),
      "mixer": Architecture(
          f"2 MLP-Mixer blocks (token and channel mixing), x [batch, {256 // s}, {256 // s}]",
          lambda act: Mixer(act), lambda b: (b, 256 // s, 256 // s), 16),
      "cnn": Architecture(
          f"4 x (Conv 3x3 -> act), channels {64 // s},{64 // s},{128 // s},{128 // s}, "
          "x [batch, 32, 32, 3]",
          lambda act: CNN(act, (64 // s, 64 // s, 128 // s, 128 // s)),
          lambda b: (b, 32, 32, 3), 64 // s),
      "cnn-bn": Architecture(
          "the same with BatchNorm before each activation",
          lambda act: CNN(act, (64 // s, 64 // s, 128 // s, 128 // s), norm="batch"),
          lambda b: (b, 32, 32, 3), 64 // s),
      "cnn-gn": Architecture(
          f"the same with GroupNorm({32 // s}) before each activation",
          lambda act: CNN(act, (64 // s, 64 // s, 128 // s, 128 // s), norm="group",
                          groups=32 // s),
          lambda b: (b, 32, 32, 3), 64 // s),
  }


def train_step(arch: Architecture, act: Callable, batch: int | None = None):
  """(jitted gradient step, its arguments) for ``arch`` around ``act``."""
  model = arch.build(act)
  x = jax.random.normal(jax.random.key(1), arch.shape(batch or arch.batch))
  variables = model.init(jax.random.key(0), x)
  mutable = ["batch_stats"] if "batch_stats" in variables else False

  def loss(variables, x):
    out = model.apply(variables, x, mutable=mutable)
    out = out[0] if mutable else out
    return jnp.mean(out ** 2)

  return jax.jit(jax.grad(loss)), (variables, x)


def step_temp_bytes(arch: Architecture, act: Callable, batch: int | None = None) -> int:
  """Temporary bytes of the compiled training step, from XLA's memory analysis."""
  step, args = train_step(arch, act, batch)
  return step.lower(*args).compile().memory_analysis().temp_size_in_bytes
