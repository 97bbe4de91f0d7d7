"""`make demo`: a train step with jelu against jax.nn and ReLU, the plots, the digits comparison.

Ends with the training table and the list of PNGs written.

    python examples/demo.py [--out out] [--epochs 40]
"""

from __future__ import annotations

import argparse

import jax

import jelu

import plot_activations
import self_normalizing
import step_memory
import train_digits

if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="out")
  parser.add_argument("--epochs", type=int, default=40)
  args = parser.parse_args()
  print(f"jelu {jelu.__version__}, jax {jax.__version__}, backend {jax.default_backend()}")
  rows, pngs = step_memory.main(args.out)
  print("\nThe compiled train step of two small models (time: median of interleaved rounds):")
  print(step_memory.table(rows))
  pngs += plot_activations.main(args.out)
  stats, paths = self_normalizing.main(args.out)
  pngs += paths
  print("last layer of the 64-layer MLP at init (mean, variance):",
        ", ".join(f"{k} ({s[-1, 0]:.3f}, {s[-1, 1]:.3g})" for k, s in stats.items()))
  results, paths = train_digits.main(args.out, args.epochs)
  pngs += paths
  print(f"\nscikit-learn digits, {args.epochs} epochs, seed 0:")
  print(train_digits.table(results))
  print("\nfigures:")
  for path in pngs:
    print(f"  {path}")
