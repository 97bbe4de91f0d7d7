"""The backends benchmark's relations at other widths and depths: shapes of real models.

``benchmarks/backends.py`` measures seven networks at one size each. The relations jelu keeps
should not depend on those sizes, so this compiles the training step of other shapes built
from the same modules (``benchmarks/architectures.py``): a BERT-base and a GPT-2-medium MLP
block, a wide and a deep 2-D MLP, an MLP-Mixer S/16 at 224 pixels, a ResNet stage's
convolutions at 56 x 56 with and without BatchNorm, a wide CNN with GroupNorm and a deep
narrow one, each CNN ending in a classifier's head (global mean pool and Dense(10)). For each
target and dtype it reports the step's temp memory as a multiple of the same network with no
activation, for jelu's ELU (both residuals), jax.nn's and ReLU, and the relations of the
activation's place that do not hold: after a Dense or Conv layer the default needs no more
than ReLU and jax.nn; after a norm the default no more than jax.nn and ``residual="input"``
no more than ReLU. Compiles only; prints the table and refreshes the part of
``benchmarks/RESULTS.md`` named for the targets (``shapes cpu h100`` by default).

    python benchmarks/shapes.py                    # this CPU and an H100 (make test-backends' venv)
    python benchmarks/shapes.py --targets cpu      # without jax's CUDA plugin
    python benchmarks/shapes.py --targets tpu-v5e  # with libtpu (slow: minutes per shape)
"""

from __future__ import annotations

import argparse
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import backends  # noqa: E402  (sets the environment the CUDA plugin needs before jax starts)

architectures = backends.architectures
Architecture, MLP, CNN, Mixer = (architectures.Architecture, architectures.MLP,
                                 architectures.CNN, architectures.Mixer)

ACTS = ("identity", "jax.nn.relu", "jax.nn.elu", "jelu.elu", "jelu.elu input")
# The table's columns, in its order.
COLUMNS = ("jelu.elu", "jelu.elu input", "jax.nn.elu", "jax.nn.relu")
AFTER_DENSE, AFTER_NORM = "Dense/Conv", "norm"
# Bytes that are not arrays of the network's size (alpha, the CPU conditional's predicate),
# as in tests/test_backends.py.
SLACK = 4096

# name -> (what precedes the activation, the network and its input). Batches are those a
# training step of each model commonly takes on one device.
SHAPES: dict[str, tuple[str, Architecture]] = {
    "BERT-base MLP block": (AFTER_DENSE, Architecture(
        "2 x pre-LN (Dense 768->3072, act, Dense 3072->768), x [16, 128, 768]",
        lambda act, dt: MLP(act, 3072, depth=2, pre_norm=True, dtype=dt),
        lambda b: (b, 128, 768), 16)),
    "GPT-2-medium MLP block": (AFTER_DENSE, Architecture(
        "2 x pre-LN (Dense 1024->4096, act, Dense 4096->1024), x [4, 1024, 1024]",
        lambda act, dt: MLP(act, 4096, depth=2, pre_norm=True, dtype=dt),
        lambda b: (b, 1024, 1024), 4)),
    "wide 2-D MLP": (AFTER_DENSE, Architecture(
        "2 x (Dense 1024->4096, act, Dense 4096->1024), x [1024, 1024]",
        lambda act, dt: MLP(act, 4096, depth=2, dtype=dt), lambda b: (b, 1024), 1024)),
    "deep 2-D MLP": (AFTER_DENSE, Architecture(
        "8 x (Dense 64->256, act, Dense 256->64), x [8192, 64]",
        lambda act, dt: MLP(act, 256, depth=8, dtype=dt), lambda b: (b, 64), 8192)),
    "Mixer-S/16": (AFTER_DENSE, Architecture(
        "4 MLP-Mixer blocks, x [16, 196, 512] (224 px, 16 px patches)",
        lambda act, dt: Mixer(act, depth=4, dtype=dt), lambda b: (b, 196, 512), 16)),
    "ResNet stage": (AFTER_DENSE, Architecture(
        "3 x (Conv 3x3 -> act), 64 channels, x [32, 56, 56, 3]",
        lambda act, dt: CNN(act, (64, 64, 64), dtype=dt, head=True), lambda b: (b, 56, 56, 3), 32)),
    "deep narrow CNN": (AFTER_DENSE, Architecture(
        "8 x (Conv 3x3 -> act), 32 channels, x [64, 32, 32, 3]",
        lambda act, dt: CNN(act, (32,) * 8, dtype=dt, head=True), lambda b: (b, 32, 32, 3), 64)),
    "ResNet stage, BatchNorm": (AFTER_NORM, Architecture(
        "3 x (Conv 3x3 -> BatchNorm -> act), 64 channels, x [32, 56, 56, 3]",
        lambda act, dt: CNN(act, (64, 64, 64), norm="batch", dtype=dt, head=True),
        lambda b: (b, 56, 56, 3), 32)),
    "wide CNN, GroupNorm": (AFTER_NORM, Architecture(
        "2 x (Conv 3x3 -> GroupNorm(32) -> act), 128 and 256 channels, x [16, 32, 32, 3]",
        lambda act, dt: CNN(act, (128, 256), norm="group", dtype=dt, head=True),
        lambda b: (b, 32, 32, 3), 16)),
}


def temp_bytes(target: str, dtype: str, arch: Architecture, act_name: str) -> int:
  compiled = backends.compiled_step(target, dtype, arch, act_name)
  return compiled.memory_analysis().temp_size_in_bytes


def misses(place: str, temp: dict[str, int]) -> list[str]:
  """The relations of ``place`` that ``temp`` (bytes per activation) breaks by more than
  ``SLACK``, each with the two multiples of the network without activation."""
  none = temp["identity"]
  pairs = [("jelu.elu", "jax.nn.elu", "default > jax.nn")]
  if place == AFTER_DENSE:
    pairs.append(("jelu.elu", "jax.nn.relu", "default > ReLU"))
  else:
    pairs.append(("jelu.elu input", "jax.nn.relu", '"input" > ReLU'))
  return [f"{what} ({temp[ours] / none:.3f} against {temp[other] / none:.3f})"
          for ours, other, what in pairs if temp[ours] > temp[other] + SLACK]


def table(targets: list[str], dtypes: list[str]) -> tuple[str, list[dict]]:
  lines = ["| target | dtype | shape | after | none MiB | jelu.elu | jelu.elu \"input\" | "
           "jax.nn.elu | ReLU | misses |", "|---|---|---|---|---|---|---|---|---|---|"]
  rows = []
  for target in targets:
    for dtype in dtypes:
      for name, (place, arch) in SHAPES.items():
        temp = {a: temp_bytes(target, dtype, arch, a) for a in ACTS}
        none = temp["identity"]
        ratios = " | ".join(f"{temp[a] / none:.2f}" for a in COLUMNS)
        miss = misses(place, temp)
        rows.append({"target": target, "dtype": dtype, "shape": name, "misses": miss,
                     **{a: temp[a] for a in ACTS}})
        lines.append(f"| {target} | {dtype} | {name} | {place} | {none / 2**20:.1f} | "
                     f"{ratios} | {', '.join(miss) or 'none'} |")
        print(lines[-1], flush=True)
  return "\n".join(lines) + "\n", rows


def main(argv: list[str] | None = None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--targets", nargs="+", choices=sorted(backends.TARGETS),
                      default=["cpu", "h100"])
  parser.add_argument("--dtypes", nargs="+", choices=list(backends.DTYPES),
                      default=list(backends.DTYPES))
  parser.add_argument("--md", default=str(HERE / "RESULTS.md"))
  args = parser.parse_args(argv)
  body, rows = table(args.targets, args.dtypes)
  shapes = "\n".join(f"- {name}: {arch.describe}" for name, (_, arch) in SHAPES.items())
  backends.run.write_results_md(
      pathlib.Path(args.md),
      f"{backends.machine()['cpu']}; jax {backends.jax.__version__}. Temp memory of "
      f"`jax.jit(jax.grad(loss))` as a multiple of the same network with no activation.\n\n"
      f"{shapes}\n\n{body}", section=" ".join(["shapes", *args.targets]))
  return rows


if __name__ == "__main__":
  main()
