"""Plots ELU (several alphas), SELU and CELU with their derivatives, all through jelu.

Derivatives are computed with ``jax.vmap(jax.grad(...))``, so what is drawn is
what jelu's backward rule returns. Writes one PNG per function and one overview
under ``out/`` and prints their paths.

    python examples/plot_activations.py [--out DIR]
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jelu  # noqa: E402

CURVES = {
    "elu": [(f"ELU, alpha={a}", lambda x, a=a: jelu.elu(x, a)) for a in (0.5, 1.0, 2.0)],
    "selu": [("SELU", jelu.selu)],
    "celu": [(f"CELU, alpha={a}", lambda x, a=a: jelu.celu(x, a)) for a in (0.5, 1.0, 2.0)],
}


def _draw(ax_value, ax_grad, curves, x):
  for label, f in curves:
    ax_value.plot(x, f(x), label=label)
    ax_grad.plot(x, jax.vmap(jax.grad(f))(x), label=label)
  ax_value.set_title("value")
  ax_grad.set_title("derivative (jax.vmap(jax.grad(f)))")
  for ax in (ax_value, ax_grad):
    ax.axhline(0, color="0.8", lw=0.8)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.set_xlabel("x")
    ax.legend()


def main(out: str = "out", num: int = 601) -> list[pathlib.Path]:
  out_dir = pathlib.Path(out)
  out_dir.mkdir(parents=True, exist_ok=True)
  x = jnp.linspace(-4.0, 3.0, num)
  paths = []
  for name, curves in CURVES.items():
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    _draw(a, b, curves, x)
    fig.suptitle(f"jelu.{name}")
    fig.tight_layout()
    paths.append(out_dir / f"{name}.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
  fig, axes = plt.subplots(2, 3, figsize=(14, 7))
  for col, (name, curves) in enumerate(CURVES.items()):
    _draw(axes[0, col], axes[1, col], curves, x)
    axes[0, col].set_title(f"jelu.{name}")
  fig.tight_layout()
  paths.append(out_dir / "activations.png")
  fig.savefig(paths[-1], dpi=80)
  plt.close(fig)
  return paths


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="out")
  for path in main(parser.parse_args().out):
    print(f"wrote {path}")
