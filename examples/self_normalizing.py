"""Per-layer mean and variance through a 64-layer MLP at init: SELU holds 0 and 1, others drift.

Standard-normal input, LeCun-normal weights (variance 1/fan_in), no biases; the
statistics are over the batch and the units of each layer's activations. This is
the claim of Klambauer et al. (2017), shown.

    python examples/self_normalizing.py [--depth 64] [--out out]
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import matplotlib
import numpy as np

import jelu

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ACTIVATIONS = {"jelu.selu": jelu.selu, "jelu.elu": jelu.elu, "relu": jax.nn.relu}


@jax.jit
def _dense(h, key):
  return h @ jax.nn.initializers.lecun_normal()(key, (h.shape[1], h.shape[1]))


def layer_stats(act, depth: int, width: int, batch: int, seed: int = 0) -> np.ndarray:
  """(depth, 2) array of the mean and variance of each layer's activations."""
  kx, *keys = jax.random.split(jax.random.key(seed), depth + 1)
  h = jax.random.normal(kx, (batch, width))
  stats = []
  for k in keys:
    h = act(_dense(h, k))
    stats.append((float(h.mean()), float(h.var())))
  return np.asarray(stats)


def main(out: str = "out", depth: int = 64, width: int = 512,
         batch: int = 1024) -> tuple[dict, list[pathlib.Path]]:
  out_dir = pathlib.Path(out)
  out_dir.mkdir(parents=True, exist_ok=True)
  stats = {name: layer_stats(act, depth, width, batch) for name, act in ACTIVATIONS.items()}
  fig, (ax_mean, ax_var) = plt.subplots(1, 2, figsize=(11, 4))
  layers = np.arange(1, depth + 1)
  for name, s in stats.items():
    ax_mean.plot(layers, s[:, 0], label=name)
    ax_var.plot(layers, s[:, 1], label=name)
  ax_mean.set(title="mean of activations", xlabel="layer")
  ax_var.set(title="variance of activations (log scale)", xlabel="layer", yscale="log")
  for ax in (ax_mean, ax_var):
    ax.legend()
    ax.grid(alpha=0.3)
  fig.suptitle(f"{depth}-layer MLP at init, width {width}, LeCun-normal weights, N(0, 1) input")
  fig.tight_layout()
  path = out_dir / "self_normalizing.png"
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return stats, [path]


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="out")
  parser.add_argument("--depth", type=int, default=64)
  args = parser.parse_args()
  stats, paths = main(args.out, args.depth)
  print(f"{'activation':<12}{'last mean':>12}{'last variance':>16}")
  for name, s in stats.items():
    print(f"{name:<12}{s[-1, 0]:>12.4f}{s[-1, 1]:>16.3g}")
  for path in paths:
    print(f"wrote {path}")
