"""The digits MLP in flax.nnx with jelu.nnx's SELU and AlphaDropout: a short training loop.

    python examples/train_digits_nnx.py [--epochs 30] [--seed 0]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jelu import nnx as jnnx

from train_digits import BATCH, load_data


def make_model(rngs: nnx.Rngs, hidden: int = 256) -> nnx.Sequential:
  def dense(i, o):
    return nnx.Linear(i, o, kernel_init=nnx.initializers.lecun_normal(), rngs=rngs)

  return nnx.Sequential(
      dense(64, hidden), jnnx.SELU(), jnnx.AlphaDropout(0.05, rngs=rngs),
      dense(hidden, hidden), jnnx.SELU(), jnnx.AlphaDropout(0.05, rngs=rngs),
      dense(hidden, 10))


@nnx.jit
def train_step(model, optimizer, x, y):
  def loss_fn(m):
    return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

  loss, grads = nnx.value_and_grad(loss_fn)(model)
  optimizer.update(model, grads)
  return loss


@nnx.jit
def accuracy(model, x, y):
  return (model(x).argmax(-1) == y).mean()


def main(epochs: int = 30, seed: int = 0, hidden: int = 256) -> list[float]:
  x_train, y_train, x_test, y_test = map(jnp.asarray, load_data(seed))
  model = make_model(nnx.Rngs(seed), hidden)
  optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
  key = jax.random.key(seed)
  history = []
  for _ in range(epochs):
    key, k = jax.random.split(key)
    perm = jax.random.permutation(k, len(x_train))
    model.train()
    for i in range(len(x_train) // BATCH):
      idx = perm[i * BATCH:(i + 1) * BATCH]
      train_step(model, optimizer, x_train[idx], y_train[idx])
    model.eval()  # AlphaDropout off for evaluation
    history.append(float(accuracy(model, x_test, y_test)))
  return history


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--epochs", type=int, default=30)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  history = main(args.epochs, args.seed)
  print(f"nnx SELU + AlphaDropout: test accuracy {history[-1]:.4f} after {args.epochs} epochs")
