"""The CNNs again with a classifier's head: what the last activation costs when the loss reads it.

The CNNs of ``benchmarks/architectures.py`` end in their last activation, and the loss (the
mean of its squares) reads it, so the step's backward pass starts from a cotangent that is a
function of that activation's output. ReLU's output is cheap to recompute, and XLA recomputes
it in each kernel that needs it; an exponential one (jelu's or jax.nn's) is computed once and
kept, or its cotangent is. A classifier's head (global mean pool and Dense(10)) puts a layer
between the last activation and the loss, as in models that classify. This measures cnn-bn
and cnn-gn both ways, for the targets and dtypes where ``residual="input"`` needs more than
ReLU after a norm, prints the table and refreshes the ``classifier_head`` part of
``benchmarks/RESULTS.md``.

    python benchmarks/classifier_head.py      # with jax's CUDA plugin (make test-backends' venv)
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import backends  # noqa: E402  (sets the environment the CUDA plugin needs before jax starts)

CELLS = [("h100", "float32"), ("h100", "bfloat16"), ("cpu", "bfloat16")]
ARCHS = ("cnn-bn", "cnn-gn")
ACTS = ("identity", "jax.nn.relu", "jax.nn.elu", "jelu.elu", "jelu.elu input")


def table(scale: int = 1) -> str:
  """Temp MiB (ratio to no activation) per target, dtype, network and ending."""
  lines = ["| target | dtype | network | ends in | none MiB | ReLU | jax.nn.elu | jelu.elu | "
           'jelu.elu "input" |', "|---|---|---|---|---|---|---|---|---|"]
  for target, dtype in CELLS:
    for arch in ARCHS:
      for head, ending in ((False, "the loss"), (True, "pool + Dense")):
        temp = {a: backends.measure(target, dtype, arch, a, scale, head)["temp_bytes"]
                for a in ACTS}
        none = temp["identity"]
        cells = [f"{temp[a] / 2**20:.1f} ({temp[a] / none:.2f})" for a in ACTS[1:]]
        lines.append(f"| {target} | {dtype} | {arch} | {ending} | {none / 2**20:.1f} | "
                     + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
  return "\n".join(lines) + "\n"


def main() -> None:
  body = f"{backends.machine()['cpu']}; jax {backends.jax.__version__}.\n\n{table()}"
  backends.run.write_results_md(HERE / "RESULTS.md", body, section="classifier_head")


if __name__ == "__main__":
  main()
