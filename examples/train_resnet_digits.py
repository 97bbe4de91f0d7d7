"""A small ResNet on scikit-learn's digits, with flax's BatchNorm + ELU and with BatchNormAct.

The same network, optimiser and seed twice: each Conv -> BatchNorm -> ELU of the stem and the
residual blocks is either ``nn.BatchNorm`` then ``jelu.elu`` or ``jelu.linen.BatchNormAct``
(the fused block that keeps only its output). Prints the test accuracy of each and the compiled
train step's temp memory (XLA's ``memory_analysis``) at the training batch and at a batch of
1024. Deterministic given the seed.

    python examples/train_resnet_digits.py [--epochs 15] [--width 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jelu
from jelu import linen as jnn

from train_digits import load_data

BATCH = 64


class ResNet(nn.Module):
  """Conv -> norm-act, then ``blocks`` x (Conv -> norm-act -> Conv -> BatchNorm, + skip, ELU)."""

  fused: bool
  width: int = 32
  blocks: int = 2

  def norm_act(self, x, train: bool):
    if self.fused:
      return jnn.BatchNormAct(use_running_average=not train)(x)
    return jelu.elu(nn.BatchNorm(use_running_average=not train)(x))

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.reshape(-1, 8, 8, 1)
    x = self.norm_act(nn.Conv(self.width, (3, 3), use_bias=False)(x), train)
    for _ in range(self.blocks):
      y = self.norm_act(nn.Conv(self.width, (3, 3), use_bias=False)(x), train)
      y = nn.BatchNorm(use_running_average=not train)(nn.Conv(self.width, (3, 3),
                                                              use_bias=False)(y))
      x = jelu.elu(x + y)
    return nn.Dense(10)(x.mean((1, 2)))


def loss_fn(model, params, batch_stats, x, y):
  logits, updates = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                mutable=["batch_stats"])
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates


def step_temp_mib(model, variables, batch: int) -> float:
  """The compiled train step's temp memory at ``batch`` (compiled only)."""
  x = jnp.zeros((batch, 64), jnp.float32)
  y = jnp.zeros((batch,), jnp.int32)
  grad = jax.jit(jax.grad(lambda p: loss_fn(model, p, variables["batch_stats"], x, y)[0]))
  analysis = grad.lower(variables["params"]).compile().memory_analysis()
  return analysis.temp_size_in_bytes / 2**20


def train(fused: bool, data, *, epochs: int, width: int, seed: int) -> dict:
  x_train, y_train, x_test, y_test = data
  model = ResNet(fused=fused, width=width)
  variables = model.init(jax.random.key(seed), jnp.asarray(x_train[:BATCH]))
  tx = optax.adam(1e-3)
  params, batch_stats = variables["params"], variables["batch_stats"]
  state = tx.init(params)

  @jax.jit
  def step(params, batch_stats, state, x, y):
    (loss, updates), grads = jax.value_and_grad(
        lambda p: loss_fn(model, p, batch_stats, x, y), has_aux=True)(params)
    changes, state = tx.update(grads, state)
    return optax.apply_updates(params, changes), updates["batch_stats"], state, loss

  @jax.jit
  def accuracy(params, batch_stats):
    logits = model.apply({"params": params, "batch_stats": batch_stats}, x_test)
    return jnp.mean(jnp.argmax(logits, -1) == y_test)

  rng = np.random.default_rng(seed)
  losses, start = [], time.perf_counter()
  for _ in range(epochs):
    order = rng.permutation(len(x_train))
    for i in range(len(x_train) // BATCH):
      batch = order[i * BATCH:(i + 1) * BATCH]
      params, batch_stats, state, loss = step(params, batch_stats, state, x_train[batch],
                                              y_train[batch])
    losses.append(float(loss))
  return {"name": "jelu.linen.BatchNormAct" if fused else "nn.BatchNorm + jelu.elu",
          "train_loss": losses, "test_accuracy": float(accuracy(params, batch_stats)),
          "seconds": time.perf_counter() - start,
          "temp_mib": step_temp_mib(model, variables, BATCH),
          "temp_mib_1024": step_temp_mib(model, variables, 1024)}


def main(epochs: int = 15, width: int = 32, seed: int = 0) -> list[dict]:
  data = load_data(seed)
  results = [train(fused, data, epochs=epochs, width=width, seed=seed) for fused in (False, True)]
  print(f"| norm and activation | test accuracy | step temp MiB, batch {BATCH} | batch 1024 |")
  print("|---|---|---|---|")
  for r in results:
    print(f"| {r['name']} | {r['test_accuracy']:.3f} | {r['temp_mib']:.2f} | "
          f"{r['temp_mib_1024']:.1f} |")
  return results


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--epochs", type=int, default=15)
  parser.add_argument("--width", type=int, default=32)
  parser.add_argument("--seed", type=int, default=0)
  main(**vars(parser.parse_args()))
