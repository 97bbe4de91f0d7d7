"""The CNNs again with a classifier's head: what the last activation costs when the loss reads it.

The CNNs of ``benchmarks/architectures.py`` end in their last activation, and the loss (the
mean of its squares) reads it, so the step's backward pass starts from a cotangent that is a
function of that activation's output. ReLU's output is cheap to recompute, and XLA recomputes
it in each kernel that needs it; an exponential one (jelu's or jax.nn's) is computed once and
kept, or its cotangent is. A classifier's head (global mean pool and Dense(10)) puts a layer
between the last activation and the loss, as in models that classify. This measures cnn-bn
and cnn-gn both ways: the temp memory on the H100 and this CPU in float32 and bfloat16 and
on the TPU v5e in bfloat16 (only where libtpu is installed), and the
H100 kernel traffic of jelu's ELU, SELU and CELU against jax.nn's, where ``"input"`` moved
more bytes than jax.nn's without a head. Prints both tables and refreshes the
``classifier_head`` part of ``benchmarks/RESULTS.md``.

    python benchmarks/classifier_head.py      # make test-backends' venv: CUDA plugin, libtpu
"""

from __future__ import annotations

import functools
import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import backends  # noqa: E402  (sets the environment the CUDA plugin needs before jax starts)

CELLS = [("h100", "float32"), ("h100", "bfloat16"), ("cpu", "float32"), ("cpu", "bfloat16"),
         ("tpu-v5e", "bfloat16")]
ARCHS = ("cnn-bn", "cnn-gn")
ENDINGS = ((False, "the loss"), (True, "pool + Dense"))
ACTS = ("identity", "jax.nn.relu", "jax.nn.elu", "jelu.elu", "jelu.elu input")
KINDS = ("elu", "selu", "celu")
# Each H100 step once: both tables read its temp memory or its kernel bytes.
measure = functools.cache(backends.measure)


def memory_table(cells: list[tuple[str, str]], scale: int = 1) -> str:
  """Temp MiB (ratio to no activation) per target, dtype, network and ending."""
  lines = ["| target | dtype | network | ends in | none MiB | ReLU | jax.nn.elu | jelu.elu | "
           'jelu.elu "input" |', "|---|---|---|---|---|---|---|---|---|"]
  for target, dtype in cells:
    for arch in ARCHS:
      for head, ending in ENDINGS:
        temp = {a: measure(target, dtype, arch, a, scale, head)["temp_bytes"]
                for a in ACTS}
        none = temp["identity"]
        entries = [f"{temp[a] / 2**20:.1f} ({temp[a] / none:.2f})" for a in ACTS[1:]]
        lines.append(f"| {target} | {dtype} | {arch} | {ending} | {none / 2**20:.1f} | "
                     + " | ".join(entries) + " |")
        print(lines[-1], flush=True)
  return "\n".join(lines) + "\n"


def traffic_table(scale: int = 1) -> str:
  """H100 kernel bytes, jelu's over jax.nn's same activation, per dtype, network and ending."""
  columns = [f"jelu.{k}{suffix}" for k in KINDS for suffix in ("", " input")]
  lines = ["| dtype | network | ends in | jax.nn.elu MiB | " + " | ".join(columns) + " |",
           "|---|---|---|---|" + "---|" * len(columns)]
  for dtype in backends.DTYPES:
    for arch in ARCHS:
      for head, ending in ENDINGS:
        moved = {act: measure("h100", dtype, arch, act, scale, head)["kernel_bytes"]
                 for act in columns + [f"jax.nn.{k}" for k in KINDS]}
        ratios = [moved[c] / moved["jax.nn." + c.split()[0].removeprefix("jelu.")]
                  for c in columns]
        lines.append(f"| {dtype} | {arch} | {ending} | {moved['jax.nn.elu'] / 2**20:.1f} | "
                     + " | ".join(f"{r:.3f}" for r in ratios) + " |")
        print(lines[-1], flush=True)
  return "\n".join(lines) + "\n"


def main() -> None:
  cells = [c for c in CELLS
           if c[0] != "tpu-v5e" or importlib.util.find_spec("libtpu") is not None]
  body = (f"{backends.machine()['cpu']}; jax {backends.jax.__version__}.\n\n"
          f"Temp memory:\n\n{memory_table(cells)}\n"
          f"H100 kernel traffic, jelu's over jax.nn's:\n\n{traffic_table()}")
  backends.run.write_results_md(HERE / "RESULTS.md", body, section="classifier_head")


if __name__ == "__main__":
  main()
