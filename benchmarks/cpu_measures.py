"""Train-step memory and time on this CPU with and without each of jelu._xla's CPU measures.

``jelu._xla`` keeps two measures for XLA:CPU that leave every value as it is: `materialized`
(the primal inside a conditional, so that XLA keeps ``y`` itself) and `written_once_on_cpu`
(``dx`` divided by an opaque 1, so that XLA writes it once). This compiles the training step
of networks of ``benchmarks/architectures.py`` with jelu's kernel as it is and with one
measure swapped for the identity (``backends.swapped``; nothing else changes), then times the
two in one process, in turn, pair by pair, so that the machine's drift falls on both. It
prints, per network and measure, the temp memory of each and the median ratio of step times
(kernel as it is over the measure removed, with the pairs' min and max). Writes nothing.

    python benchmarks/cpu_measures.py
    python benchmarks/cpu_measures.py --measures written_once_on_cpu --archs cnn-bn --head
    python benchmarks/cpu_measures.py --dtype bfloat16 --reps 0     # memory only
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import backends  # noqa: E402  (its DTYPES and architectures, as backends.py compiles them)

architectures = backends.architectures
# Each measure, and what replaces it: the same value, computed plainly.
WITHOUT = {
    "materialized": lambda primal, x, a: primal(x),
    "written_once_on_cpu": lambda dx: dx,
}


def _compiled(arch: str, act: str, head: bool, dtype: str, scale: int):
  return backends.step_and_args("cpu", dtype, architectures.architectures(scale, head)[arch], act)


def _seconds(compiled, args) -> float:
  start = time.perf_counter()
  jax.block_until_ready(compiled(*args))
  return time.perf_counter() - start


def rows(measures: list[str], archs: list[str], acts: list[str], head: bool = False,
         dtype: str = "float32", scale: int = 1, reps: int = 7) -> list[dict]:
  """Temp bytes with and without each measure, and (``reps`` > 0) step-time ratios."""
  cases = [(arch, act) for arch in archs for act in acts]
  kept = {case: _compiled(*case, head, dtype, scale) for case in cases}
  out = []
  for measure in measures:
    with backends.swapped(**{measure: WITHOUT[measure]}):
      removed = {case: _compiled(*case, head, dtype, scale) for case in cases}
    for case in cases:
      (ours, args), (theirs, _) = kept[case], removed[case]
      row = {"measure": measure, "architecture": case[0], "activation": case[1],
             "temp_bytes": ours.memory_analysis().temp_size_in_bytes,
             "temp_bytes_without": theirs.memory_analysis().temp_size_in_bytes}
      if reps:
        _seconds(ours, args), _seconds(theirs, args)  # warm-up
        ratios = [_seconds(ours, args) / _seconds(theirs, args) for _ in range(reps)]
        row.update(time_ratio=float(np.median(ratios)), time_ratio_min=min(ratios),
                   time_ratio_max=max(ratios))
      out.append(row)
      print(_line(row), flush=True)
  return out


def _line(row: dict) -> str:
  times = (f"; step time {row['time_ratio']:.3f}x without ({row['time_ratio_min']:.3f}-"
           f"{row['time_ratio_max']:.3f})" if "time_ratio" in row else "")
  return (f"{row['measure']}, {row['architecture']}, {row['activation']}: temp "
          f"{row['temp_bytes'] / 2**20:.1f} MiB, without {row['temp_bytes_without'] / 2**20:.1f}"
          + times)


def main(argv: list[str] | None = None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--measures", nargs="+", choices=sorted(WITHOUT), default=sorted(WITHOUT))
  parser.add_argument("--archs", nargs="+", default=list(architectures.architectures()))
  parser.add_argument("--acts", nargs="+", choices=list(architectures.ACTIVATIONS),
                      default=["jelu.elu", "jelu.elu input"])
  parser.add_argument("--head", action="store_true", help="the CNNs end in a classifier's head")
  parser.add_argument("--dtype", choices=sorted(backends.DTYPES), default="float32")
  parser.add_argument("--scale", type=int, default=1, help="divides every width and batch")
  parser.add_argument("--reps", type=int, default=7, help="timed pairs per step; 0: none")
  args = parser.parse_args(argv)
  print(f"{jax.devices()[0].device_kind}; jax {jax.__version__}", flush=True)
  return rows(args.measures, args.archs, args.acts, args.head, args.dtype, args.scale, args.reps)


if __name__ == "__main__":
  main()
