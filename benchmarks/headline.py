"""The README's headline table, from the JSON the benchmarks wrote.

Per backend and dtype: jelu's default train-step temporary memory against jax.nn.elu's, the
range over the networks of ``benchmarks/architectures.py`` (``backends.json``, written by
``make bench-backends`` and ``make bench-backends-tpu``; ``gpu.json``, written on a GPU by
``benchmarks/gpu_check.sh``), and on the GPU that ran them the step time against jax.nn's.
``--docs`` prints docs/memory.md's tables instead: per backend and jax release, each network's
memory as a multiple of the same network with no activation.

    python benchmarks/headline.py           # the README's table
    python benchmarks/headline.py --docs    # docs/memory.md's tables
"""

from __future__ import annotations

import argparse
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


# docs/memory.md: (JSON, target, title); the target None is a file with one backend.
PAGES = (
    ("backends.json", "cpu", "XLA:CPU (AMD EPYC, 2 cores), jax {jax}"),
    ("results-newest.json", None, "XLA:CPU (AMD EPYC, 2 cores), jax {jax}"),
    ("backends.json", "h100", "NVIDIA H100, compiled, jax {jax}"),
    ("backends-newest.json", "h100", "NVIDIA H100, compiled, jax {jax}"),
    ("gpu.json", None, "{device}, run, jax {jax}: memory / step time"),
    ("backends.json", "tpu-v5e", "TPU v5e, compiled, jax {jax}"),
)
COLUMNS = (("jelu.elu", "jelu"), ("jelu.elu input", 'jelu "input"'), ("jax.nn.elu", "jax.nn.elu"),
           ("jax.nn.relu", "ReLU"))


def docs_tables() -> str:
  """Per backend, each network's step memory over the same network's with no activation."""
  out = []
  for name, target, title in PAGES:
    data = json.loads((HERE / name).read_text())
    rows = data.get("rows") or data["architectures"]
    cells = {(r.get("dtype", "float32"), r["architecture"], r["activation"]): r
             for r in rows if r.get("target") == target}
    dtypes = [d for d in ("float32", "bfloat16") if any(key[0] == d for key in cells)]
    archs = list(dict.fromkeys(arch for _, arch, _ in cells))
    out.append(f"**{title.format(**data['machine'])}**\n")
    head = [f"{d}: {label}" if i == 0 else label
            for d in dtypes for i, (_, label) in enumerate(COLUMNS)]
    out.append("| network | " + " | ".join(head) + " |")
    out.append("|---" * (len(head) + 1) + "|")
    for arch in archs:
      row = []
      for dtype in dtypes:
        for act, _ in COLUMNS:
          r = cells[dtype, arch, act]
          cell = f"{r['temp_vs_identity']:.2f}"
          if "step_vs_identity" in r:
            cell += f" / {r['step_vs_identity']:.2f}"
          row.append(cell)
      out.append(f"| {arch} | " + " | ".join(row) + " |")
    out.append("")
  return "\n".join(out).strip() + "\n"


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--docs", action="store_true", help="docs/memory.md's tables instead")
  if parser.parse_args(argv).docs:
    print(docs_tables(), end="")
    return
  print("| backend | dtype | step memory vs jax.nn | step time vs jax.nn | jax |")
  print("|---|---|---|---|---|")
  for r in rows():
    print(f"| {r['backend']} | {r['dtype']} | {r['memory']} | {r['time']} | {r['jax']} |")


if __name__ == "__main__":
  main()
