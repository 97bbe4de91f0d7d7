"""Live-buffer peak against XLA's temp allocation for one architecture's training step.

XLA places every temporary buffer of a program at a fixed offset in one block, packed by a
heap simulation, so the temp memory that ``memory_analysis()`` reports is the block's
extent: at least the most bytes live at any one point of the schedule, more when the
packing leaves gaps. This script compiles the step of ``benchmarks/architectures.py`` with
``XLA_FLAGS=--xla_dump_to`` through ``benchmarks/backends.py``: for this CPU, an H100 (with
the CUDA plugin of ``make test-backends``) or a TPU v5e (in ``make bench-backends-tpu``'s
environment, with ``backends.TPU_COMPILER_OPTIONS``). It reads the buffer offsets and live
ranges XLA dumps, and prints both numbers, in MiB and bytes, and the buffers live at the
peak. Compiles only; asserts nothing. It reads the dumps of jaxlib 0.9 (the live
ranges at the end of the buffer-assignment file) and of 0.10 to 0.12 (the live ranges in a
file of their own).

    python benchmarks/live_peak.py mlp-3d jelu.elu
    python benchmarks/live_peak.py mlp-3d identity
    python benchmarks/live_peak.py mixer jelu.elu --target h100 --scale 4
    python benchmarks/live_peak.py cnn-bn "jelu.elu input" --dtype bfloat16
    python benchmarks/live_peak.py mlp-3d jelu.elu --target tpu-v5e
    python benchmarks/live_peak.py cnn-bn jax.nn.elu --target tpu-v5e --dtype bfloat16 --head
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import pathlib
import re
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
DUMP = tempfile.mkdtemp(prefix="jelu-live-peak-")
# Read when the backend starts, so before jax is imported.
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={DUMP}".strip()

import jaxlib  # noqa: E402


def _load_backends():
  """benchmarks/backends.py (which loads architectures.py), loaded as its tests load it."""
  spec = importlib.util.spec_from_file_location("backends", HERE / "backends.py")
  assert spec is not None and spec.loader is not None
  module = importlib.util.module_from_spec(spec)
  sys.modules["backends"] = module
  spec.loader.exec_module(module)
  return module


def _temp_buffers(assignment: str) -> list[tuple[str, int, int, str]]:
  """(value, size, offset, shape) of every value in XLA's preallocated temp block."""
  values, in_temp = [], False
  for line in assignment.splitlines():
    if line.startswith("allocation"):
      in_temp = "preallocated-temp" in line
    m = re.match(r"\s*value: <\d+ (\S+?)(\{.*?\})?(?: \(phi\))? @\S+> "
                 r"\(size=(\d+),offset=(\d+)\): (\S+)", line)
    if m and in_temp:
      # A tuple's elements are values of their own ("fusion{0}", "fusion{1}"), each with its
      # own live range; an array is "fusion" here and "fusion{}" in the live ranges.
      values.append((m.group(1) + (m.group(2) or "{}"), int(m.group(3)), int(m.group(4)),
                     m.group(5)))
  return values


def _live_ranges(text: str) -> dict[str, tuple[int, int]]:
  ranges = {}
  for m in re.finditer(r"^\s+(\S+?\{[^}]*\}):(\d+)-(\d+)$", text.split("BufferLiveRange")[1],
                       re.M):
    start, end = int(m.group(2)), int(m.group(3))
    old = ranges.get(m.group(1), (start, end))
    ranges[m.group(1)] = (min(old[0], start), max(old[1], end))
  return ranges


def live_peak(values, ranges) -> tuple[int, int, list]:
  """(peak bytes, schedule position, buffers live there), one slot per (offset, size)."""
  best = (0, 0, [])
  for t in range(max(end for _, end in ranges.values()) + 1):
    live = {}
    for name, size, offset, shape in values:
      start, end = ranges.get(name, (1, 0))
      if start <= t <= end:
        live.setdefault((offset, size), []).append(f"{name} {shape}")
    total = sum(size for _, size in live)
    if total > best[0]:
      best = (total, t, sorted(live.items()))
  return best


def main(argv: list[str] | None = None) -> dict:
  backends = _load_backends()
  architectures = backends.architectures
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("architecture")
  parser.add_argument("activation", choices=sorted(architectures.ACTIVATIONS))
  parser.add_argument("--scale", type=int, default=1)
  parser.add_argument("--target", choices=sorted(backends.TARGETS), default="cpu")
  parser.add_argument("--dtype", choices=sorted(backends.DTYPES), default="float32")
  parser.add_argument("--head", action="store_true",
                      help="the CNNs with a classifier's head (benchmarks/classifier_head.py)")
  args = parser.parse_args(argv)
  arch = architectures.architectures(args.scale, args.head)[args.architecture]
  step, step_args = architectures.train_step(arch, architectures.ACTIVATIONS[args.activation],
                                             dtype=backends.DTYPES[args.dtype])
  compiled = backends.compile_step(step, step_args, args.target)
  temp = compiled.memory_analysis().temp_size_in_bytes
  prefix = sorted(glob.glob(f"{DUMP}/*jit_loss*buffer-assignment.txt"))[-1]
  prefix = prefix.removesuffix("-buffer-assignment.txt")
  assignment = pathlib.Path(f"{prefix}-buffer-assignment.txt").read_text()
  # jaxlib 0.10 and later write the live ranges to a file of their own, 0.9 after the
  # buffer assignment.
  live_range = pathlib.Path(f"{prefix}-live-range.txt")
  live_range_text = live_range.read_text() if live_range.exists() else assignment
  if "BufferLiveRange" not in live_range_text:
    sys.exit(f"no live ranges in XLA's dump from jaxlib {jaxlib.__version__}; this reads "
             "those of jaxlib 0.9 to 0.12")
  values = _temp_buffers(assignment)
  ranges = _live_ranges(live_range_text)
  peak, where, live = live_peak(values, ranges)
  print(f"{args.architecture}, {args.activation}, {args.target} {args.dtype}: "
        f"temp {temp / 2**20:.2f} MiB ({temp} bytes), live peak {peak / 2**20:.2f} MiB "
        f"({peak} bytes) at schedule position {where}; live there:")
  for (_, size), names in live:
    if size >= peak / 256:
      print(f"  {size / 2**20:6.1f} MiB  {', '.join(names)}")
  return {"temp_bytes": temp, "live_peak_bytes": peak}


if __name__ == "__main__":
  main()
