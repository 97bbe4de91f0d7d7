"""Trains one MLP on scikit-learn's digits with ReLU, jelu ELU, jelu SELU and jelu CELU.

The same architecture, optimiser and seed for each; SELU gets its companions
(LeCun-normal weights, which are also flax's default, and AlphaDropout). Prints a
table (final test accuracy and loss) and plots the training loss and
test accuracy of all four into one figure under ``out/``. Deterministic given
the seed.

    python examples/train_digits.py [--epochs 40] [--seed 0] [--out out]
"""

from __future__ import annotations

import argparse
import pathlib
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import jelu
from jelu import linen as jnn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BATCH = 64


class MLP(nn.Module):
  """depth x (Dense(hidden) -> act [-> AlphaDropout]) -> Dense(10)."""

  act: Callable
  hidden: int = 256
  depth: int = 3
  alpha_dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    for _ in range(self.depth):
      x = self.act(nn.Dense(self.hidden, kernel_init=nn.initializers.lecun_normal())(x))
      if self.alpha_dropout:
        x = jnn.AlphaDropout(self.alpha_dropout, deterministic=not train)(x)
    return nn.Dense(10)(x)


VARIANTS = {
    "ReLU": dict(act=nn.relu),
    "jelu ELU": dict(act=jnn.ELU()),
    "jelu SELU + AlphaDropout": dict(act=jnn.SELU(), alpha_dropout=0.05),
    "jelu CELU (alpha=0.5)": dict(act=jnn.CELU(alpha=0.5)),
}


def load_data(seed: int):
  """Standardised digits (features with zero variance stay 0), 75/25 stratified split."""
  x, y = load_digits(return_X_y=True)
  x_train, x_test, y_train, y_test = train_test_split(
      x.astype(np.float32), y, test_size=0.25, random_state=seed, stratify=y)
  mean, std = x_train.mean(0), x_train.std(0)
  std[std == 0] = 1.0
  return ((x_train - mean) / std, y_train.astype(np.int32),
          (x_test - mean) / std, y_test.astype(np.int32))


def make_trainer(model: MLP, tx: optax.GradientTransformation, x_train, y_train, x_test, y_test):
  steps = len(x_train) // BATCH

  def loss_fn(params, x, y, key):
    logits = model.apply({"params": params}, x, train=True, rngs={"dropout": key})
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  @jax.jit
  def epoch(params, opt_state, key):
    perm_key, drop_key = jax.random.split(key)
    perm = jax.random.permutation(perm_key, len(x_train))[: steps * BATCH].reshape(steps, BATCH)

    def step(carry, batch):
      params, opt_state = carry
      idx, k = batch
      loss, grads = jax.value_and_grad(loss_fn)(params, x_train[idx], y_train[idx], k)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), (perm, jax.random.split(drop_key, steps)))
    logits = model.apply({"params": params}, x_test)
    test_loss = optax.softmax_cross_entropy_with_integer_labels(logits, y_test).mean()
    accuracy = (logits.argmax(-1) == y_test).mean()
    return params, opt_state, losses.mean(), test_loss, accuracy

  return epoch


def train(name: str, data, epochs: int, seed: int, hidden: int, depth: int) -> dict:
  x_train, y_train, x_test, y_test = map(jnp.asarray, data)
  model = MLP(hidden=hidden, depth=depth, **VARIANTS[name])
  init_key, key = jax.random.split(jax.random.key(seed))
  params = model.init(init_key, x_train[:1])["params"]
  tx = optax.adam(1e-3)
  opt_state = tx.init(params)
  epoch = make_trainer(model, tx, x_train, y_train, x_test, y_test)
  history = {"train_loss": [], "test_loss": [], "test_accuracy": []}
  compile_start = time.perf_counter()
  epoch = epoch.lower(params, opt_state, key).compile()
  compile_s = time.perf_counter() - compile_start
  jax.block_until_ready(epoch(params, opt_state, key))  # warm-up; its result is discarded
  start = time.perf_counter()
  for k in tqdm(jax.random.split(key, epochs), desc=f"{name:>24}", unit="epoch", leave=False):
    params, opt_state, train_loss, test_loss, accuracy = epoch(params, opt_state, k)
    history["train_loss"].append(float(train_loss))
    history["test_loss"].append(float(test_loss))
    history["test_accuracy"].append(float(accuracy))
  return {"name": name, **history, "epoch_s": (time.perf_counter() - start) / epochs,
          "compile_s": compile_s}


def plot(results: list[dict], path: pathlib.Path) -> None:
  fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
  for r in results:
    epochs = np.arange(1, len(r["train_loss"]) + 1)
    ax_loss.plot(epochs, r["train_loss"], label=r["name"])
    ax_acc.plot(epochs, r["test_accuracy"], label=r["name"])
  ax_loss.set(title="training loss", xlabel="epoch", yscale="log")
  ax_acc.set(title="test accuracy", xlabel="epoch", ylim=(0.85, 1.0))
  for ax in (ax_loss, ax_acc):
    ax.legend()
    ax.grid(alpha=0.3)
  fig.suptitle("scikit-learn digits: the same MLP with each activation")
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def table(results: list[dict]) -> str:
  # No time column: one run of each in turn measures the machine's load as much as the
  # activation (examples/step_memory.py times steps in interleaved rounds).
  lines = [f"{'activation':<26}{'test acc':>9}{'test loss':>11}{'train loss':>12}"]
  for r in results:
    lines.append(f"{r['name']:<26}{r['test_accuracy'][-1]:>9.4f}{r['test_loss'][-1]:>11.4f}"
                 f"{r['train_loss'][-1]:>12.4f}")
  return "\n".join(lines)


def main(out: str = "out", epochs: int = 40, seed: int = 0, hidden: int = 256,
         depth: int = 3) -> tuple[list[dict], list[pathlib.Path]]:
  out_dir = pathlib.Path(out)
  out_dir.mkdir(parents=True, exist_ok=True)
  data = load_data(seed)
  results = [train(name, data, epochs, seed, hidden, depth) for name in VARIANTS]
  path = out_dir / "train_digits.png"
  plot(results, path)
  return results, [path]


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="out")
  parser.add_argument("--epochs", type=int, default=40)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  results, paths = main(args.out, args.epochs, args.seed)
  print(f"jelu {jelu.__version__}, jax {jax.__version__}, backend {jax.default_backend()}")
  print(table(results))
  for path in paths:
    print(f"wrote {path}")
