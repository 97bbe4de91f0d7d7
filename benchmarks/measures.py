"""What each of jelu._xla's measures buys: train-step memory with and without it.

Compiles the training step of networks of ``benchmarks/architectures.py`` for a target of
``benchmarks/backends.py`` (this CPU; an H100 or a TPU v5e, compiled only, in make
bench-backends' venv) with jelu as it is and with one measure disabled
(``jelu._xla.disabled``, the documented hook; nothing else changes), and prints one markdown
row per network: the step's temp memory over the network without activation, with and
without the measure. On the CPU, ``--reps`` > 0 also times the two steps in turn, pair by
pair, and gives the median ratio (with, over without). docs/design.md's tables are its output.

    python benchmarks/measures.py --measures materialized --scale 4
    JAX_PLATFORMS=cpu JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 .venv-backends/bin/python \\
        benchmarks/measures.py --target h100 --dtype bfloat16 --measures narrowed --scale 4
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import numpy as np

import jelu._xla

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import backends  # noqa: E402  (its targets, dtypes and architectures)

architectures = backends.architectures


def _seconds(compiled, args) -> float:
  start = time.perf_counter()
  jax.block_until_ready(compiled(*args))
  return time.perf_counter() - start


def _step(target: str, dtype: str, arch, act: str):
  return backends.step_and_args(target, dtype, arch, act)


def rows(measure: str, archs: list[str], act: str, target: str = "cpu",
         dtype: str = "float32", scale: int = 1, head: bool = False,
         reps: int = 0) -> list[dict]:
  """Temp bytes with and without ``measure`` (and the network without activation's), and
  with ``reps`` > 0 the step-time ratio."""
  nets = architectures.architectures(scale, head)
  out = []
  for name in archs:
    none, _ = _step(target, dtype, nets[name], backends.NONE)
    ours, args = _step(target, dtype, nets[name], act)
    with jelu._xla.disabled(measure):
      theirs, _ = _step(target, dtype, nets[name], act)
    row = {"measure": measure, "target": target, "dtype": dtype, "architecture": name,
           "activation": act, "jax": jax.__version__,
           "temp_bytes": ours.memory_analysis().temp_size_in_bytes,
           "temp_bytes_without": theirs.memory_analysis().temp_size_in_bytes,
           "temp_bytes_no_activation": none.memory_analysis().temp_size_in_bytes}
    if reps and target == "cpu":
      _seconds(ours, args), _seconds(theirs, args)  # warm-up
      ratios = [_seconds(ours, args) / _seconds(theirs, args) for _ in range(reps)]
      row["time_ratio"] = float(np.median(ratios))
    out.append(row)
    print(_line(row), flush=True)
  return out


def _line(row: dict) -> str:
  none = row["temp_bytes_no_activation"]
  time_ratio = f" {row['time_ratio']:.3f} |" if "time_ratio" in row else ""
  return (f"| {row['measure']} | {row['target']} | {row['dtype']} | {row['architecture']} | "
          f"{row['activation']} | {row['temp_bytes'] / none:.3f} | "
          f"{row['temp_bytes_without'] / none:.3f} |" + time_ratio)


def main(argv: list[str] | None = None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--measures", nargs="+", choices=jelu._xla.MEASURES,
                      default=list(jelu._xla.MEASURES))
  parser.add_argument("--target", choices=sorted(backends.TARGETS), default="cpu")
  parser.add_argument("--dtype", choices=sorted(backends.DTYPES), default="float32")
  parser.add_argument("--archs", nargs="+", default=list(architectures.architectures()))
  parser.add_argument("--acts", nargs="+", choices=list(architectures.ACTIVATIONS),
                      default=["jelu.elu", "jelu.elu input"])
  parser.add_argument("--head", action="store_true", help="the CNNs end in a classifier's head")
  parser.add_argument("--scale", type=int, default=1, help="divides every width and batch")
  parser.add_argument("--reps", type=int, default=0, help="timed pairs per step (CPU); 0: none")
  args = parser.parse_args(argv)
  print(f"{backends.TARGETS[args.target]}; jax {jax.__version__}; temp memory over the "
        "network without activation", flush=True)
  print("| measure | target | dtype | network | activation | with | without |"
        + (" time with/without |" if args.reps and args.target == "cpu" else ""))
  return [row for measure in args.measures for act in args.acts
          for row in rows(measure, args.archs, act, args.target, args.dtype, args.scale,
                          args.head, args.reps)]


if __name__ == "__main__":
  main()
