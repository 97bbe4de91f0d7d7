"""The backends benchmark's networks on a GPU that is there: compiled memory and step time.

``backends.py`` compiles for an H100 that the benchmark machine does not have. Where jax
has a GPU (its CUDA plugin and a card), this script compiles the same training steps
(``benchmarks/architectures.py``, float32 and bfloat16) for that GPU, reads each compiled
program's temp memory and kernel-traffic proxy as ``backends.py`` does, times each step (the
median of interleaved repeats, as ``run.py``), and times jelu's and jax.nn's forward and
forward+backward on large arrays against a copy (``run.elementwise``). It writes JSON;
``--tables`` turns such a JSON into the ``gpu`` part of ``benchmarks/RESULTS.md`` on any
machine.

    python benchmarks/gpu.py --json gpu.json             # on the GPU's machine
    python benchmarks/gpu.py --tables benchmarks/gpu.json  # RESULTS.md's gpu part, anywhere
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# run.py imports jax, which reads JAX_PLATFORMS then: backends.py's default of "cpu", set when it
# loads below, no longer applies, and jax takes the GPU.
import run  # noqa: E402

architectures = run.load_sibling("architectures")
backends = run.load_sibling("backends")

NAMES = list(architectures.ACTIVATIONS)
STEPS_PER_SAMPLE = 10  # steps dispatched back to back per timed sample: launch gaps amortised


def compiled_cells(dtypes: list[str], names: list[str], scale: int) -> dict:
  """{(dtype, network, activation): (compiled step, its arguments)}, compiled in threads."""
  lowered = {}
  for dtype in dtypes:
    for arch_name, arch in architectures.architectures(scale).items():
      for name in names:
        step, args = backends.train_step_of(dtype, arch, name)
        lowered[dtype, arch_name, name] = (step.lower(*args), args)
  with concurrent.futures.ThreadPoolExecutor() as pool:
    futures = {key: pool.submit(low.compile) for key, (low, _) in lowered.items()}
    return {key: (futures[key].result(), lowered[key][1]) for key in lowered}


def _steps(compiled, args):
  return lambda: [compiled(*args) for _ in range(STEPS_PER_SAMPLE)]


def cell_rows(cells: dict, reps: int) -> list[dict]:
  """Temp memory, kernel bytes and (with ``reps``) step seconds of every compiled cell."""
  rows = []
  for dtype, arch_name in dict.fromkeys((d, a) for d, a, _ in cells):
    here = {name: cells[d, a, name] for d, a, name in cells if (d, a) == (dtype, arch_name)}
    times = run._median_times({n: _steps(*c) for n, c in here.items()}, reps) if reps else {}
    cell = {}
    for name, (compiled, _) in here.items():
      cell[name] = {"dtype": dtype, "architecture": arch_name, "activation": name,
                    "temp_bytes": compiled.memory_analysis().temp_size_in_bytes,
                    "kernel_bytes": backends.kernel_bytes(compiled.as_text())}
      if reps:
        cell[name]["step_s"] = times[name] / STEPS_PER_SAMPLE
    for row in cell.values():
      for key in ("temp_bytes", "step_s"):
        if key in row:
          row[key.split("_")[0] + "_vs_identity"] = row[key] / cell[backends.NONE][key]
    rows += cell.values()
    print(f"measured {dtype} {arch_name}", flush=True)
  return rows


def _ratio(row: dict | None, key: str) -> str:
  return f"{row[key]:.2f}" if row and key in row else "-"


def tables(results: dict) -> str:
  m = results["machine"]
  out = [f"{m['device']} ({m['backend']}), jax {m['jax']}, jaxlib {m['jaxlib']}, flax "
         f"{m['flax']}, python {m['python']}. Each cell: temp memory of the compiled "
         "`jax.jit(jax.grad(loss))` over the same network with no activation, then its "
         "step time over that network's (median of interleaved samples of "
         f"{STEPS_PER_SAMPLE} steps); \"none\" gives that network's MiB and ms.", ""]
  rows = results["rows"]
  for dtype in dict.fromkeys(r["dtype"] for r in rows):
    cell = {(r["architecture"], r["activation"]): r for r in rows if r["dtype"] == dtype}
    shown = [a for a in dict.fromkeys(a for _, a in cell) if a != backends.NONE]
    short = [backends.short_name(a) for a in shown]
    out += [f"### {m['device']}, {dtype}: memory / time", "",
            "| network | none MiB, ms | " + " | ".join(short) + " |",
            "|---|---|" + "---|" * len(shown)]
    for arch in dict.fromkeys(a for a, _ in cell):
      none = cell[arch, backends.NONE]
      ms = f"{1e3 * none['step_s']:.2f}" if "step_s" in none else "-"
      out.append(f"| {arch} | {none['temp_bytes'] / 2**20:.1f}, {ms} | " + " | ".join(
          f"{_ratio(cell.get((arch, a)), 'temp_vs_identity')} / "
          f"{_ratio(cell.get((arch, a)), 'step_vs_identity')}" for a in shown) + " |")
    out.append("")
  if results.get("elementwise"):
    out += [f"### {m['device']}: elementwise, GB/s of necessary traffic", "",
            "| op | dtype | n | ms | GB/s | x copy |", "|---|---|---|---|---|---|"]
    for r in results["elementwise"]:
      out.append(f"| {r['op']} | {r['dtype']} | 2^{r['n'].bit_length() - 1} | "
                 f"{1e3 * r['seconds']:.3f} | "
                 f"{r['gb_per_s']:.0f} | {r['over_copy_roofline']:.2f} |")
    out.append("")
  return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--json", default=str(HERE / "gpu.json"))
  parser.add_argument("--tables", metavar="JSON", help="only write RESULTS.md from this JSON")
  parser.add_argument("--md", default=str(HERE / "RESULTS.md"))
  parser.add_argument("--scale", type=int, default=1, help="divides every width and batch")
  parser.add_argument("--reps", type=int, default=7, help="timed samples per step; 0: untimed")
  parser.add_argument("--sizes", type=int, nargs="*", default=[2**24, 2**26],
                      help="elementwise array sizes; none: skip")
  args = parser.parse_args(argv)
  if args.tables:
    results = json.loads(pathlib.Path(args.tables).read_text())
    run.write_results_md(pathlib.Path(args.md), tables(results), section="gpu")
    return results
  start = time.perf_counter()
  results = {"machine": backends.machine(), "scale": args.scale, "reps": args.reps, "rows": [],
             "elementwise": []}
  print(results["machine"], flush=True)
  for dtype in ("bfloat16", "float32"):
    cells = compiled_cells([dtype], NAMES, args.scale)
    print(f"compiled {len(cells)} {dtype} steps at {time.perf_counter() - start:.0f} s",
          flush=True)
    results["rows"] += cell_rows(cells, args.reps)
    del cells
    pathlib.Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
  if args.sizes:
    results["elementwise"] = run.elementwise(args.sizes, ["float32", "bfloat16"], 15)
  results["seconds"] = time.perf_counter() - start
  pathlib.Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
  print(tables(results))
  return results


if __name__ == "__main__":
  main()
