"""The README's headline table, from the JSON the benchmarks wrote.

Per backend and dtype: jelu's default train-step temporary memory against jax.nn.elu's, the
range over the networks of ``benchmarks/architectures.py`` (``backends.json``, written by
``make bench-backends`` and ``make bench-backends-tpu``; ``gpu.json``, written on a GPU by
``benchmarks/gpu_check.sh``), and on the GPU that ran them the step time against jax.nn's.

    python benchmarks/headline.py
"""

from __future__ import annotations

import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
TARGETS = {"cpu": "XLA:CPU", "h100": "NVIDIA H100, compiled", "tpu-v5e": "TPU v5e, compiled"}


def _span(values: list[float]) -> str:
  return f"{min(values):.2f}–{max(values):.2f}×"


def rows() -> list[dict]:
  backends = json.loads((HERE / "backends.json").read_text())
  by_cell = {(r["target"], r["dtype"], r["architecture"], r["activation"]): r
             for r in backends["rows"]}
  out = []
  for target, label in TARGETS.items():
    for dtype in ("float32", "bfloat16"):
      ratios = [r["temp_bytes"] / by_cell[target, dtype, arch, "jax.nn.elu"]["temp_bytes"]
                for (t, d, arch, act), r in by_cell.items()
                if (t, d, act) == (target, dtype, "jelu.elu")]
      if ratios:
        out.append({"backend": label, "dtype": dtype, "memory": _span(ratios), "time": "-",
                    "jax": backends["machine"].get("jax", "")})
  gpu = json.loads((HERE / "gpu.json").read_text())
  cells = {(r["dtype"], r["architecture"], r["activation"]): r for r in gpu["rows"]}
  for dtype in ("float32", "bfloat16"):
    pairs = [(r, cells[d, arch, "jax.nn.elu"]) for (d, arch, act), r in cells.items()
             if (d, act) == (dtype, "jelu.elu")]
    memory = [ours["temp_bytes"] / theirs["temp_bytes"] for ours, theirs in pairs]
    time = [ours["step_s"] / theirs["step_s"] for ours, theirs in pairs]
    out.append({"backend": f"{gpu['machine']['device']}, run", "dtype": dtype,
                "memory": _span(memory), "time": _span(time), "jax": gpu["machine"]["jax"]})
  return out


def main() -> None:
  print("| backend | dtype | step memory vs jax.nn | step time vs jax.nn | jax |")
  print("|---|---|---|---|---|")
  for r in rows():
    print(f"| {r['backend']} | {r['dtype']} | {r['memory']} | {r['time']} | {r['jax']} |")


if __name__ == "__main__":
  main()
