"""The point of jelu: a train step's memory and time with jelu.elu, jax.nn.elu and ReLU.

Two small real models, a pre-LayerNorm transformer MLP block and a CNN, each compiled as
``jax.jit(jax.grad(loss))`` with each activation. Memory is XLA's temp allocation of the
compiled step (``memory_analysis``, what the step needs beyond its inputs and outputs). Time is
measured in rounds that run every activation's step once, in turn, and each round's time is
divided by jax.nn.elu's in the same round: the median of those ratios is robust to a machine
that is busy with other work, where one timed epoch is not. Prints a table and draws
``step_memory.png``.

    python examples/step_memory.py [--out out] [--rounds 15]
"""

from __future__ import annotations

import argparse
import pathlib
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

import jelu

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ACTIVATIONS = {"jelu.elu": jelu.elu, "jax.nn.elu": jax.nn.elu, "jax.nn.relu": jax.nn.relu}


class MLPBlock(nn.Module):
  """Two pre-LayerNorm MLP blocks of a transformer, on [batch, tokens, 256]."""

  act: object

  @nn.compact
  def __call__(self, x):
    for _ in range(2):
      h = nn.Dense(1024)(nn.LayerNorm()(x))
      x = x + nn.Dense(x.shape[-1])(self.act(h))
    return jnp.mean(x ** 2)


class CNN(nn.Module):
  """3 x (Conv 3x3 -> activation) and a classifier's head, on [batch, 32, 32, 3]."""

  act: object

  @nn.compact
  def __call__(self, x):
    for channels in (32, 64, 64):
      x = self.act(nn.Conv(channels, (3, 3))(x))
    return jnp.mean(nn.Dense(10)(x.mean((1, 2))) ** 2)


MODELS = {"transformer MLP block, [8, 128, 256]": (MLPBlock, (8, 128, 256)),
          "CNN, [32, 32, 32, 3]": (CNN, (32, 32, 32, 3))}


def compiled_steps(model_cls, shape):
  """Each activation's compiled step, with its arguments."""
  x = jax.random.normal(jax.random.key(0), shape)
  steps = {}
  for name, act in ACTIVATIONS.items():
    model = model_cls(act)
    params = model.init(jax.random.key(1), x)
    step = jax.jit(jax.grad(model.apply)).lower(params, x).compile()
    steps[name] = (step, (params, x))
  return steps


def measure(rounds: int) -> list[dict]:
  rows = []
  for model_name, (model_cls, shape) in MODELS.items():
    steps = compiled_steps(model_cls, shape)
    times = {name: [] for name in steps}
    for step, args in steps.values():
      jax.block_until_ready(step(*args))  # warm-up
    for r in range(rounds):
      names = list(steps)
      for name in names[r % len(names):] + names[:r % len(names)]:  # a rotating order
        step, args = steps[name]
        start = time.perf_counter()
        jax.block_until_ready(step(*args))
        times[name].append(time.perf_counter() - start)
    baseline = np.asarray(times["jax.nn.elu"])
    for name, (step, _) in steps.items():
      analysis = step.memory_analysis()
      rows.append({"model": model_name, "activation": name,
                   "temp_mib": analysis.temp_size_in_bytes / 2**20,
                   "step_ms": 1e3 * float(np.median(times[name])),
                   "time_vs_jax_nn": float(np.median(np.asarray(times[name]) / baseline))})
  return rows


def table(rows: list[dict]) -> str:
  lines = ["| model | activation | step temp MiB | vs jax.nn.elu | step ms | time vs jax.nn.elu |",
           "|---|---|---|---|---|---|"]
  for r in rows:
    base = next(b for b in rows if b["model"] == r["model"] and b["activation"] == "jax.nn.elu")
    lines.append(f"| {r['model']} | {r['activation']} | {r['temp_mib']:.1f} | "
                 f"{r['temp_mib'] / base['temp_mib']:.2f} | {r['step_ms']:.1f} | "
                 f"{r['time_vs_jax_nn']:.2f} |")
  return "\n".join(lines)


def plot(rows: list[dict], path: pathlib.Path) -> None:
  models = list(MODELS)
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
  width = 0.8 / len(ACTIVATIONS)
  for i, name in enumerate(ACTIVATIONS):
    mine = [next(r for r in rows if r["model"] == m and r["activation"] == name) for m in models]
    positions = np.arange(len(models)) + (i - 1) * width
    axes[0].bar(positions, [r["temp_mib"] for r in mine], width, label=name)
    axes[1].bar(positions, [r["time_vs_jax_nn"] for r in mine], width, label=name)
  axes[0].set(title="train-step temp memory (MiB, compiled)", ylabel="MiB")
  axes[1].set(title="train-step time / jax.nn.elu's (median of rounds)", ylabel="ratio")
  axes[1].axhline(1.0, color="gray", lw=0.8)
  for ax in axes:
    ax.set_xticks(np.arange(len(models)), models, fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
  fig.suptitle(f"jelu.elu against jax.nn.elu and ReLU, jax {jax.__version__}, "
               f"{jax.default_backend()}")
  fig.tight_layout(rect=(0, 0, 1, 0.95))
  fig.savefig(path, dpi=80)
  plt.close(fig)


def main(out: str = "out", rounds: int = 15) -> tuple[list[dict], list[pathlib.Path]]:
  out_dir = pathlib.Path(out)
  out_dir.mkdir(parents=True, exist_ok=True)
  rows = measure(rounds)
  path = out_dir / "step_memory.png"
  plot(rows, path)
  return rows, [path]


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="out")
  parser.add_argument("--rounds", type=int, default=15)
  args = parser.parse_args()
  rows, paths = main(args.out, args.rounds)
  print(table(rows))
  print(f"wrote {paths[0]}")
