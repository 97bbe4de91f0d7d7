"""jelu against jax.nn, relu, gelu and torch: train-step memory and time, eager calls, throughput.

Prints tables, writes ``benchmarks/results.json``, draws ``docs/memory.png`` and refreshes
the generated part of ``benchmarks/RESULTS.md`` (between the ``results`` markers; the
analysis around it is kept). Asserts nothing about time.

    python benchmarks/run.py            # full run (about 20 minutes on 2 CPU cores)
    python benchmarks/run.py --quick    # tiny sizes, for checking that it runs
    python benchmarks/run.py --only eager   # rerun one section, keep the rest of results.json
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import jelu

HERE = pathlib.Path(__file__).resolve().parent


def load_sibling(name: str):
  """benchmarks/<name>.py, whether this file runs as a script or is loaded by path (tests)."""
  if name in sys.modules:
    return sys.modules[name]
  spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
  assert spec is not None and spec.loader is not None
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # flax's dataclasses look their module up there
  spec.loader.exec_module(module)
  return module


_architectures = load_sibling("architectures")
architectures, architecture_step = _architectures.architectures, _architectures.train_step
BUDGET = 2**30  # "largest batch" is the largest whose step needs at most this temp memory
DEPTH = 8

ACTIVATIONS: dict[str, Callable] = {
    "jelu.elu": jelu.elu,
    "jax.nn.elu": jax.nn.elu,
    "jelu.selu": jelu.selu,
    "jax.nn.selu": jax.nn.selu,
    "jelu.celu": jelu.celu,
    "jax.nn.celu": jax.nn.celu,
    "jax.nn.relu": jax.nn.relu,
    # No activation at all: the least any Dense stack can need.
    "identity": lambda x: x,
}

# The networks of architectures.py are measured with these.
ARCHITECTURE_ACTIVATIONS = _architectures.ACTIVATIONS


def machine() -> dict:
  cpu = platform.processor() or platform.machine()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  import jaxlib

  return {
      "cpu": cpu,
      "cores": os.cpu_count(),
      "backend": jax.default_backend(),
      "device": str(jax.devices()[0].device_kind),
      "jax": jax.__version__,
      "jaxlib": jaxlib.__version__,
      "jelu": jelu.__version__,
      "python": platform.python_version(),
  }


def _median_times(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
  """Median seconds per call, interleaved (A B C A B C ...) so drift hits all alike."""
  for f in fns.values():
    jax.block_until_ready(f())
  times: dict[str, list[float]] = {k: [] for k in fns}
  for _ in range(reps):
    for k, f in fns.items():
      t0 = time.perf_counter()
      jax.block_until_ready(f())
      times[k].append(time.perf_counter() - t0)
  return {k: statistics.median(v) for k, v in times.items()}


def mlp_loss(act: Callable) -> Callable:
  """8 x (Dense -> act) + Dense(10), softmax cross-entropy."""

  def loss(params, x, labels):
    h = x
    for w, b in params[:-1]:
      h = act(h @ w + b)
    w, b = params[-1]
    logits = h @ w + b
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked)

  return loss


def mlp_params(width: int, key: jax.Array) -> list:
  keys = jax.random.split(key, DEPTH + 1)
  params = [(jax.random.normal(k, (width, width)) / np.sqrt(width), jnp.zeros(width))
            for k in keys[:-1]]
  params.append((jax.random.normal(keys[-1], (width, 10)) / np.sqrt(width), jnp.zeros(10)))
  return params


def train_step(batch: int, width: int, reps: int, names: list[str]) -> list[dict]:
  params = mlp_params(width, jax.random.key(0))
  x = jax.random.normal(jax.random.key(1), (batch, width))
  labels = jax.random.randint(jax.random.key(2), (batch,), 0, 10)
  floor = DEPTH * batch * width * 4  # the 8 activations the weight gradients need
  steps, rows = {}, []
  for name in names:
    step = jax.jit(jax.grad(mlp_loss(ACTIVATIONS[name])))
    compiled = step.lower(params, x, labels).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    steps[name] = lambda c=compiled: c(params, x, labels)
    rows.append({"activation": name, "batch": batch, "width": width, "temp_bytes": temp,
                 "floor_bytes": floor, "temp_over_floor": temp / floor})
  if reps:
    times = _median_times(steps, reps)
    for row in rows:
      row["step_s"] = times[row["activation"]]
  by_name = {r["activation"]: r for r in rows}
  for row in rows:
    if row["activation"].startswith("jelu."):
      theirs = by_name.get(_architectures.jax_nn_counterpart(row["activation"]) or "")
      relu = by_name.get("jax.nn.relu")
      for label, other in (("jax_nn", theirs), ("relu", relu)):
        if other:
          row[f"temp_vs_{label}"] = row["temp_bytes"] / other["temp_bytes"]
          if reps:
            row[f"time_vs_{label}"] = row["step_s"] / other["step_s"]
  return rows


def _largest_batch(arch, act, batch: int, temp: int) -> int:
  """The largest batch whose step fits BUDGET, from the temp bytes at two batch sizes.

  Temp memory is affine in the batch (the same buffers, each batch-sized or not), so two
  compiled memory analyses give it exactly.
  """
  step, args = architecture_step(arch, act, 2 * batch)
  temp2 = step.lower(*args).compile().memory_analysis().temp_size_in_bytes
  per_example = (temp2 - temp) / batch
  return int((BUDGET - (temp - per_example * batch)) // per_example) if per_example > 0 else 0


def architecture_rows(scale: int, reps: int, names: list[str]) -> list[dict]:
  """Every network of architectures.py with every activation: temp memory, step time."""
  rows = []
  for arch_name, arch in architectures(scale).items():
    steps, arch_rows = {}, []
    for name in names:
      act = ARCHITECTURE_ACTIVATIONS[name]
      step, args = architecture_step(arch, act)
      compiled = step.lower(*args).compile()
      temp = compiled.memory_analysis().temp_size_in_bytes
      steps[name] = lambda c=compiled, args=args: c(*args)
      arch_rows.append({"architecture": arch_name, "describe": arch.describe,
                        "activation": name, "temp_bytes": temp,
                        "largest_batch": _largest_batch(arch, act, arch.batch, temp)})
    if reps:
      times = _median_times(steps, reps)
      for row in arch_rows:
        row["step_s"] = times[row["activation"]]
    by_name = {r["activation"]: r for r in arch_rows}
    for row in arch_rows:
      row["temp_vs_identity"] = row["temp_bytes"] / by_name["identity"]["temp_bytes"]
      theirs = by_name.get(_architectures.jax_nn_counterpart(row["activation"]) or "")
      if theirs:
        row["temp_vs_jax_nn"] = row["temp_bytes"] / theirs["temp_bytes"]
        row["temp_vs_relu"] = row["temp_bytes"] / by_name["jax.nn.relu"]["temp_bytes"]
        if reps:
          row["time_vs_jax_nn"] = row["step_s"] / theirs["step_s"]
    rows += arch_rows
    print(f"measured {arch_name}", flush=True)
  return rows


def memory_chart(rows: list[dict], path: pathlib.Path) -> None:
  """Bars of temp memory over the no-activation network's, per architecture and activation."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  measured = {r["activation"] for r in rows}
  shown = [name for name in ("jelu.elu", "jelu.elu input", "jax.nn.elu", "jax.nn.relu",
                             "jax.nn.gelu") if name in measured]
  archs = list(dict.fromkeys(r["architecture"] for r in rows))
  ratio = {(r["architecture"], r["activation"]): r["temp_vs_identity"] for r in rows}
  fig, ax = plt.subplots(figsize=(10, 4.2))
  width = 0.8 / len(shown)
  for i, name in enumerate(shown):
    label = 'jelu.elu(residual="input")' if name == "jelu.elu input" else name
    ax.bar([a + i * width for a in range(len(archs))],
           [ratio[(arch, name)] for arch in archs], width, label=label)
  ax.axhline(1.0, color="black", linewidth=0.8)
  ax.set_xticks([a + width * (len(shown) - 1) / 2 for a in range(len(archs))], archs)
  ax.set_ylabel("train-step temp memory\n/ same network without activation")
  ax.set_ylim(0.9, max(ratio.values()) * 1.05)
  ax.legend(ncol=3, fontsize=8)
  ax.set_title("Temporary memory of jax.jit(jax.grad(loss)), XLA memory analysis")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _roofline_rows(times: dict[str, float], copy: str, nbytes: int, dtype: str, n: int) -> list:
  copy_bw = 2 * nbytes / times[copy]
  rows = []
  for op, t in times.items():
    traffic = (4 if op.endswith("fwd+bwd") else 2) * nbytes
    rows.append({"op": op, "dtype": dtype, "n": n, "seconds": t, "gb_per_s": traffic / t / 1e9,
                 "over_copy_roofline": t / (traffic / copy_bw)})
  return rows


def _fwd_bwd(f: Callable) -> Callable:
  """y and dx from x and the cotangent: reads 2 arrays, writes 2."""

  def run(x, g):
    y, vjp = jax.vjp(f, x)
    return y, vjp(g)[0]

  return jax.jit(run)


def _elementwise_one(x: jax.Array, reps: int) -> list[dict]:
  g = jnp.ones_like(x)
  calls = {"copy": functools.partial(jax.jit(lambda v: -v), x),
           # One exp per element, nothing else: the compute floor of any ELU.
           "exp only": functools.partial(jax.jit(jnp.exp), x)}
  for name in ("jelu.elu", "jax.nn.elu", "jelu.selu", "jax.nn.selu"):
    calls[f"{name} fwd"] = functools.partial(jax.jit(ACTIVATIONS[name]), x)
    calls[f"{name} fwd+bwd"] = functools.partial(_fwd_bwd(ACTIVATIONS[name]), x, g)
  return _roofline_rows(_median_times(calls, reps), "copy", x.nbytes, str(x.dtype), x.size)


def elementwise(sizes: list[int], dtypes: list[str], reps: int) -> list[dict]:
  """fwd and fwd+bwd in GB/s of necessary traffic, against a copy of the same array."""
  return [row for dtype in dtypes for n in sizes
          for row in _elementwise_one(jax.random.normal(jax.random.key(0), (n,), dtype) * 3, reps)]


def _torch_one(torch, n: int, reps: int) -> list[dict]:
  x, g = torch.randn(n) * 3, torch.ones(n)
  elu = torch.nn.functional.elu

  def fwd_bwd():
    v = x.detach().requires_grad_()
    elu(v).backward(g)
    return v.grad

  calls = {
      "torch copy": x.clone,
      "torch elu fwd": lambda: elu(x),
      # elu_ on a fresh copy: the copy's time is subtracted below.
      "torch elu_ (inplace) fwd": lambda: elu(x.clone(), inplace=True),
      "torch elu fwd+bwd": fwd_bwd,
  }
  times = _median_times(calls, reps)
  times["torch elu_ (inplace) fwd"] = max(times["torch elu_ (inplace) fwd"] - times["torch copy"],
                                          1e-9)
  rows = _roofline_rows(times, "torch copy", n * x.element_size(), "float32", n)
  for row in rows:
    row["torch"] = torch.__version__
  return rows


def torch_elementwise(sizes: list[int], reps: int) -> list[dict]:
  try:
    import torch
  except ImportError:
    return []
  torch.set_num_threads(os.cpu_count() or 1)
  return [row for n in sizes for row in _torch_one(torch, n, reps)]


def _eager_one(n: int, rounds: int, calls: int) -> list[dict]:
  x = jnp.linspace(-2.0, 2.0, n, dtype=jnp.float32)
  device_alpha = jnp.asarray(0.5)
  # (call, jax.nn's function, jelu's, alpha or None). Each jelu call is also timed under an
  # outer jax.jit, whose dispatch skips jelu's Python wrapper: the difference is its cost.
  cases = [
      ("elu(x)", jax.nn.elu, jelu.elu, None),
      ("elu(x, 0.5)", jax.nn.elu, jelu.elu, 0.5),
      ("elu(x, jnp alpha)", jax.nn.elu, jelu.elu, device_alpha),
      ("selu(x)", jax.nn.selu, jelu.selu, None),
      ("celu(x)", jax.nn.celu, jelu.celu, None),
      ("celu(x, 0.5)", jax.nn.celu, jelu.celu, 0.5),
      ("celu(x, jnp alpha)", jax.nn.celu, jelu.celu, device_alpha),
  ]

  def batch(f: Callable, *args) -> Callable[[], None]:
    def run():
      for _ in range(calls):
        f(*args).block_until_ready()
    return run

  rows = []
  for call, theirs, ours, alpha in cases:
    args = (x,) if alpha is None else (x, alpha)
    # The constant alpha stays a constant of the outer jit, as it is in jelu's own program.
    wrapped = jax.jit(ours if alpha is None or not isinstance(alpha, float)
                      else functools.partial(ours, alpha=alpha))
    wrapped_args = (x,) if alpha is None or isinstance(alpha, float) else (x, alpha)
    times = _median_times({"jax.nn": batch(theirs, *args), "jelu": batch(ours, *args),
                           "jit": batch(wrapped, *wrapped_args)}, rounds)
    rows.append({"call": call, "n": n, "jax_nn_us": 1e6 * times["jax.nn"] / calls,
                 "jelu_us": 1e6 * times["jelu"] / calls,
                 "jelu_jit_us": 1e6 * times["jit"] / calls,
                 "jelu_vs_jax_nn": times["jelu"] / times["jax.nn"]})
  return rows


def _flops(compiled) -> float:
  analysis = compiled.cost_analysis()
  return (analysis[0] if isinstance(analysis, list) else analysis)["flops"]


def eager_costs() -> list[dict]:
  """What XLA:CPU decides from its cost estimate, for jelu.elu and jax.nn.elu on float32.

  XLA's CPU client runs a program on the calling thread only when its estimate is under
  1000 flops (above, on a worker thread), and splits a loop fusion across threads by
  its cost (``outer_dimension_partitions`` in the compiled HLO). Compiles only.
  """
  rows = []
  for name, f in (("jelu.elu", jelu.elu), ("jax.nn.elu", jax.nn.elu)):
    def compiled(n, f=f):
      return jax.jit(f).lower(jnp.zeros(n, jnp.float32)).compile()

    def split(n):
      return "outer_dimension_partitions" in compiled(n).as_text()

    per_element = _flops(compiled(1024)) / 1024
    lo, hi = 1, 2**20  # the smallest n that is split lies in (lo, hi]
    while hi - lo > 1:
      mid = (lo + hi) // 2
      lo, hi = (lo, mid) if split(mid) else (mid, hi)
    rows.append({"function": name, "flops_per_element": per_element,
                 "inline_up_to": int(np.ceil(1000 / per_element)) - 1,
                 "split_from": hi if split(hi) else None})
  return rows


def eager(sizes: list[int], rounds: int, calls: int) -> list[dict]:
  """Per-call time of eager (un-jitted) calls on float32 vectors, jelu against jax.nn.

  Each entry times ``calls`` calls, each waited for (so no queue of pending
  calls builds up), jax.nn's and jelu's interleaved, ``rounds`` times; the
  median is reported.
  """
  return [row for n in sizes for row in _eager_one(n, rounds, calls)]


def _mib(b: float) -> str:
  return f"{b / 2**20:.0f}"


def _ratio(row: dict, key: str) -> str:
  """A ratio cell; empty where the row was not timed or has nothing to compare with."""
  return f"{row[key]:.2f}" if key in row else ""


def _step_ms(row: dict) -> str:
  return f"{1e3 * row['step_s']:.0f}" if "step_s" in row else ""


def tables(results: dict) -> str:
  m = results["machine"]
  out = [f"Machine: {m['cpu']}, {m['cores']} cores, backend {m['backend']} ({m['device']}); "
         f"jax {m['jax']}, jaxlib {m['jaxlib']}, jelu {m['jelu']}, python {m['python']}.", ""]
  out += ["### Train step: `jax.jit(jax.grad(loss))`, 8 x (Dense -> act) + Dense(10)", "",
          "| batch x width | activation | temp MiB | floor MiB | temp/floor | vs jax.nn | "
          "vs relu | step ms | time vs jax.nn | time vs relu |",
          "|---|---|---|---|---|---|---|---|---|---|"]
  for r in results["train_step"]:
    out.append(f"| {r['batch']} x {r['width']} | {r['activation']} | {_mib(r['temp_bytes'])} | "
               f"{_mib(r['floor_bytes'])} | {r['temp_over_floor']:.3f} | "
               f"{_ratio(r, 'temp_vs_jax_nn')} | {_ratio(r, 'temp_vs_relu')} | {_step_ms(r)} | "
               f"{_ratio(r, 'time_vs_jax_nn')} | {_ratio(r, 'time_vs_relu')} |")
  out += ["", "### Train step of real architectures: `jax.jit(jax.grad(loss))`, flax linen",
          "", "Largest batch: the largest whose step needs at most 1 GiB of temporary memory "
          "(temp memory is affine in the batch; read from two compiled memory analyses). "
          '"input" is `residual="input"`.', ""]
  cells = {(r["architecture"], r["activation"]): r for r in results["architectures"]}
  archs = list(dict.fromkeys(arch for arch, _ in cells))
  acts = list(dict.fromkeys(act for _, act in cells))
  out += [f"- **{arch}**: {cells[arch, acts[0]]['describe']}" for arch in archs]
  for title, cell in (
      ("Temp memory over the same network with no activation (\"none MiB\")",
       lambda r: f"{r['temp_vs_identity']:.3f}"),
      ("Step time in ms (over jax.nn's of the same function)",
       lambda r: _step_ms(r) + (f" ({r['time_vs_jax_nn']:.2f})" if "time_vs_jax_nn" in r else "")),
      ("Largest batch", lambda r: str(r["largest_batch"]))):
    memory = title.startswith("Temp")
    cols = [act for act in acts if not (memory and act == "identity")]
    out += ["", title, "", "| network | " + " | ".join(["none MiB"] * memory + cols) + " |",
            "|---" * (len(cols) + memory + 1) + "|"]
    for arch in archs:
      mib = [f"{cells[arch, 'identity']['temp_bytes'] / 2**20:.1f}"] * memory
      out.append(f"| {arch} | " + " | ".join(mib + [cell(cells[arch, act]) if (arch, act) in cells
                                                    else "" for act in cols]) + " |")
  out.append("")
  if results.get("eager"):
    rows = results["eager"]
    out += ["### Eager calls: median time per call on float32 vectors of n values", "",
            "`jax.jit(jelu)` calls the same function under an outer `jax.jit`, whose dispatch "
            "skips jelu's Python wrapper.", "",
            "| call | n | jax.nn us | jelu us | jax.jit(jelu) us | jelu / jax.nn |",
            "|---|---|---|---|---|---|"]
    out += [f"| `{r['call']}` | {r['n']} | {r['jax_nn_us']:.2f} | {r['jelu_us']:.2f} | "
            f"{r.get('jelu_jit_us', float('nan')):.2f} | {r['jelu_vs_jax_nn']:.2f} |"
            for r in rows]
    out += ["", "XLA:CPU's cost estimate of the compiled float32 program: it runs on the "
            "calling thread for up to \"inline up to n\" values and on a worker thread for "
            "more, and its loop is split across threads from \"split from n\" values on.", "",
            "| function | HLO flops per element | inline up to n | split from n |",
            "|---|---|---|---|"]
    out += [f"| {r['function']} | {r['flops_per_element']:.0f} | {r['inline_up_to']} | "
            f"{r['split_from'] or ''} |" for r in results.get("eager_costs", [])]
    out.append("")
  out += ["### Elementwise throughput (GB/s of necessary traffic; fwd moves 2 arrays, "
          "fwd+bwd 4)", "", "| op | dtype | n | ms | GB/s | time / copy roofline |",
          "|---|---|---|---|---|---|"]
  for r in results["elementwise"] + results["torch"]:
    out.append(f"| {r['op']} | {r['dtype']} | 2^{int(np.log2(r['n']))} | "
               f"{1e3 * r['seconds']:.1f} | {r['gb_per_s']:.1f} | {r['over_copy_roofline']:.2f} |")
  return "\n".join(out) + "\n"


def write_results_md(path: pathlib.Path, body: str, section: str = "results") -> None:
  """Replaces the text between ``<!-- {section}:begin -->`` and its end marker."""
  begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
  text = path.read_text() if path.exists() else "# Benchmark results\n"
  if begin not in text:
    text += f"\n{begin}\n{end}\n"
  head, rest = text.split(begin, 1)
  tail = rest.split(end, 1)[1]
  path.write_text(f"{head}{begin}\n{body}{end}{tail}")


SECTIONS = ("architectures", "train_step", "eager", "elementwise", "torch")


def main(argv: list[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="tiny sizes; checks that it runs")
  parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                      help="rerun these sections and keep the others from --json")
  parser.add_argument("--json", default=str(HERE / "results.json"))
  parser.add_argument("--md", default=str(HERE / "RESULTS.md"))
  parser.add_argument("--png", default=str(HERE.parent / "docs" / "memory.png"))
  args = parser.parse_args(argv)
  names = list(ACTIVATIONS)
  if args.quick:
    configs, reps, sizes, dtypes = [(64, 32, 2)], 2, [2**10], ["float32", "bfloat16"]
    # A few activations, untimed: enough to check that it all runs.
    scale, arch_reps = 8, 0
    arch_names = ["jelu.elu", "jax.nn.relu", "identity"]
    eager_sizes, eager_rounds, eager_calls = [128], 2, 2
  else:
    configs, reps, sizes, dtypes = ([(4096, 1024, 7), (4096, 2048, 5)], 15,
                                    [2**24, 2**26], ["float32", "bfloat16"])
    scale, arch_reps, arch_names = 1, 5, list(ARCHITECTURE_ACTIVATIONS)
    eager_sizes, eager_rounds, eager_calls = [8, 128, 4096, 65536], 31, 100
  json_path = pathlib.Path(args.json)
  results = {section: [] for section in SECTIONS}
  if set(args.only) != set(SECTIONS) and json_path.exists():
    results.update(json.loads(json_path.read_text()))
  results["machine"] = machine()
  if "architectures" in args.only:
    results["architectures"] = architecture_rows(scale, arch_reps, arch_names)
    memory_chart(results["architectures"], pathlib.Path(args.png))
  if "train_step" in args.only:
    results["train_step"] = [row for batch, width, step_reps in configs
                             for row in train_step(batch, width, step_reps, names)]
  if "eager" in args.only:
    results["eager"] = eager(eager_sizes, eager_rounds, eager_calls)
    results["eager_costs"] = eager_costs()
  if "elementwise" in args.only:
    results["elementwise"] = elementwise(sizes, dtypes, reps)
  if "torch" in args.only:
    results["torch"] = torch_elementwise(sizes, reps)
  body = tables(results)
  print(body)
  json_path.write_text(json.dumps(results, indent=1) + "\n")
  write_results_md(pathlib.Path(args.md), body)
  print(f"wrote {args.json}, {args.md} and {args.png}")
  return results


if __name__ == "__main__":
  main()
