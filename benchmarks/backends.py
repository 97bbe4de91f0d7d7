"""Train-step memory compiled for the backends models train on, in float32 and bfloat16.

XLA compiles for a device it does not have: with the CUDA plugin installed (``pip install
jax-cuda12-plugin``, no CUDA libraries and no GPU needed), ``jax.experimental.topologies``
describes an H100 from ``benchmarks/h100_sxm.txtpb`` and the training step of every network
of ``benchmarks/architectures.py`` is compiled for it. The compiled program's memory analysis
is the buffer assignment that would run there, and its HLO names every kernel it launches.
Nothing runs on a GPU, so nothing here is timed.

libtpu compiles for a TPU v5e chip the same way (``make bench-backends-tpu``; see
``TPU_COMPILER_OPTIONS`` for which of its figures is read). For each target and dtype
(float32; bfloat16 = every flax layer computing in bfloat16 with float32 parameters) it
reports the step's temp memory, its ratio to the same network with no activation, and on
the GPU a memory-traffic proxy: the bytes read and written by the step's top-level kernels
(fusions, library calls, copies), read from the compiled HLO. Prints tables, writes
``benchmarks/backends.json``, draws ``docs/memory_backends.png`` and refreshes the
``backends`` part of ``benchmarks/RESULTS.md``.

    python benchmarks/backends.py                  # full sizes (make bench-backends)
    python benchmarks/backends.py --quick          # small sizes, a few activations
    python benchmarks/backends.py --targets h100   # one target; the JSON keeps the others
"""

from __future__ import annotations

import os

# Before jax starts a backend: the process's own device stays the CPU, and the CUDA plugin
# registers without the CUDA runtime, which compiling for a described device does not need.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # libtpu: no cloud metadata server to ask
# libtpu takes a lock on the chip it drives; compiling drives none, and a second process
# (live_peak.py's, run from a test) compiles beside this one.
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


# run.py, beside this file, as when this file runs as a script (tests load it by path).
sys.path.insert(0, str(HERE))
import run  # noqa: E402

architectures = run.load_sibling("architectures")

TARGETS = {"cpu": "XLA:CPU, this machine", "h100": "XLA:GPU, NVIDIA H100 SXM (compiled only)",
           "tpu-v5e": "XLA:TPU, one TPU v5e chip (compiled only, HBM temporaries)"}
DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}
NONE = "identity"
_PLATFORM = {"h100": "cuda", "tpu-v5e": "tpu"}
# libtpu's memory-space assignment moves what fits into the chip's 128 MiB of VMEM, which
# temp_size_in_bytes does not count, by a heuristic that depends on the program: the default
# figure of one MLP jumps 0, 50, 236 MiB with the batch, and an activation's memory comes and
# goes with it. With it off every temporary is in HBM, and the figure is the step's whole
# need, linear in the batch (an upper bound on what the default program keeps in HBM).
# Rematerialisation, which recomputes activations near HBM's capacity, is kept from hiding one.
TPU_COMPILER_OPTIONS = {"xla_msa_enable": False,
                        "xla_tpu_rematerialization_min_size_in_bytes": 1 << 40}


@functools.cache
def sharding(target: str) -> NamedSharding:
  """A replicated sharding on one described device, for abstract arguments to compile against."""
  from jax.experimental import topologies

  if target == "h100":
    topology = topologies.get_topology_desc(
        platform="cuda", target_config=(HERE / "h100_sxm.txtpb").read_text(), topology="1x1x1")
  else:
    topology = topologies.get_topology_desc(topology_name="v5e:1x1", platform="tpu",
                                            chips_per_host_bounds=(1, 1, 1))
  return NamedSharding(Mesh(np.array(topology.devices[:1]), ("device",)), P())


def compile_step(step, args, target: str):
  """``step`` compiled for ``target`` with ``args``' shapes: on this CPU, an H100 or a v5e."""
  if target == "cpu":
    return step.lower(*args).compile()
  if target not in _PLATFORM:
    raise ValueError(f"unknown target {target!r}; one of {sorted(TARGETS)}")
  on_device = sharding(target)
  abstract = jax.tree.map(
      lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a), sharding=on_device), args)
  lowered = step.trace(*abstract).lower(lowering_platforms=(_PLATFORM[target],))
  return lowered.compile(TPU_COMPILER_OPTIONS if target == "tpu-v5e" else None)


_BYTES = {"pred": 1, "s8": 1, "u8": 1, "f8e4m3fn": 1, "f8e5m2": 1, "s16": 2, "u16": 2,
          "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8,
          "c64": 8, "c128": 16}
_ARRAY = re.compile(r"\b(" + "|".join(_BYTES) + r")\[([\d,]*)\]")
# `%name = <shape> <opcode>(<operands>)` in the printed HLO; a shape may be a tuple.
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.+?) ([a-z\-]+)\(([^)]*)\)")
_KERNELS = ("fusion", "custom-call", "copy")


def _shape_bytes(shape: str) -> int:
  total = 0
  for dtype, dims in _ARRAY.findall(shape):
    n = _BYTES[dtype]
    for d in filter(None, dims.split(",")):
      n *= int(d)
    total += n
  return total


def kernel_bytes(hlo_text: str) -> int:
  """Bytes read and written by the entry computation's kernels: a proxy for memory traffic.

  Each fusion, library call (cuBLAS, cuDNN) and copy of the entry computation reads its
  operands and writes its result once from and to device memory; bitcasts, tuples and
  parameters move nothing. Caches and a kernel reading an operand twice are not modelled.
  """
  entry = hlo_text[hlo_text.index("\nENTRY "):]
  entry = entry[:entry.index("\n}")]
  sizes: dict[str, int] = {}
  total = 0
  for line in entry.splitlines()[1:]:
    match = _INSTRUCTION.match(line)
    if not match:
      continue
    name, shape, opcode, operands = match.groups()
    sizes[name] = _shape_bytes(shape)
    if opcode in _KERNELS:
      total += sizes[name] + sum(sizes.get(o.strip().lstrip("%"), 0)
                                 for o in operands.split(",") if o.strip())
  return total


def train_step_of(dtype: str, arch, act_name: str):
  """(the jitted training step of ``arch``, an ``architectures.Architecture``, around the
  activation named ``act_name`` with layers in ``dtype``; its arguments)."""
  return architectures.train_step(arch, architectures.ACTIVATIONS[act_name],
                                  dtype=DTYPES[dtype])


def step_and_args(target: str, dtype: str, arch, act_name: str):
  """(the training step of ``arch`` around ``act_name`` compiled for ``target``; the
  arguments to run it with)."""
  step, args = train_step_of(dtype, arch, act_name)
  return compile_step(step, args, target), args


def compiled_step(target: str, dtype: str, arch, act_name: str):
  """The training step of ``arch`` around ``act_name``, compiled for ``target``."""
  return step_and_args(target, dtype, arch, act_name)[0]


def measure(target: str, dtype: str, arch_name: str, act_name: str, scale: int = 1,
            head: bool = False) -> dict:
  """One cell: the step of ``arch_name`` around ``act_name`` compiled for ``target``."""
  arch = architectures.architectures(scale, head)[arch_name]
  compiled = compiled_step(target, dtype, arch, act_name)
  row = {"target": target, "dtype": dtype, "architecture": arch_name, "activation": act_name,
         "temp_bytes": compiled.memory_analysis().temp_size_in_bytes}
  if target == "h100":
    row["kernel_bytes"] = kernel_bytes(compiled.as_text())
  return row


def rows_for(targets: list[str], dtypes: list[str], act_names: list[str],
             scale: int = 1) -> list[dict]:
  rows = []
  for target in targets:
    for dtype in dtypes:
      for arch_name in architectures.architectures(scale):
        cell = {a: measure(target, dtype, arch_name, a, scale) for a in act_names}
        for row in cell.values():
          row["temp_vs_identity"] = row["temp_bytes"] / cell[NONE]["temp_bytes"]
          theirs = cell.get(architectures.jax_nn_counterpart(row["activation"]) or "")
          if theirs:
            row["temp_vs_jax_nn"] = row["temp_bytes"] / theirs["temp_bytes"]
            row["temp_vs_relu"] = row["temp_bytes"] / cell["jax.nn.relu"]["temp_bytes"]
            if "kernel_bytes" in row:
              row["kernel_bytes_vs_jax_nn"] = row["kernel_bytes"] / theirs["kernel_bytes"]
        rows += cell.values()
        print(f"measured {target} {dtype} {arch_name}", flush=True)
  return rows


def short_name(act_name: str) -> str:
  """An activation's column heading: "jax.nn.elu" -> "elu", "jelu.elu input" ->
  'jelu.elu "input"'."""
  return act_name.replace("jax.nn.", "").replace(" input", ' "input"')


def _header(act_names: list[str]) -> list[str]:
  short = [short_name(a) for a in act_names]
  return ["| network | none MiB | " + " | ".join(short) + " |",
          "|---|---|" + "---|" * len(act_names)]


def tables(results: dict) -> str:
  m = results["machine"]
  out = [f"jax {m['jax']}, jaxlib {m['jaxlib']}, flax {m['flax']}, python {m['python']}; "
         f"CPU cells on {m['cpu']}. Temp memory of `jax.jit(jax.grad(loss))` as a multiple of "
         "the same network with no activation (\"none MiB\"); networks of "
         "`benchmarks/architectures.py` at the sizes there.", ""]
  rows = results["rows"]
  for target in dict.fromkeys(r["target"] for r in rows):
    for dtype in dict.fromkeys(r["dtype"] for r in rows if r["target"] == target):
      cell = {(r["architecture"], r["activation"]): r for r in rows
              if r["target"] == target and r["dtype"] == dtype}
      shown = [a for a in dict.fromkeys(a for _, a in cell) if a != NONE]
      out += [f"### {TARGETS[target]}, {dtype}", ""] + _header(shown)
      for arch in dict.fromkeys(a for a, _ in cell):
        out.append(f"| {arch} | {cell[arch, NONE]['temp_bytes'] / 2**20:.1f} | " + " | ".join(
            f"{cell[arch, a]['temp_vs_identity']:.2f}" for a in shown) + " |")
      out.append("")
  traffic = [r for r in rows if "kernel_bytes_vs_jax_nn" in r]
  if traffic:
    jelu_names = list(dict.fromkeys(r["activation"] for r in traffic))
    out += ["### Kernel traffic on the H100: bytes read and written by the step's kernels, "
            "jelu / jax.nn", "", "| network | dtype | " + " | ".join(jelu_names) + " |",
            "|---|---|" + "---|" * len(jelu_names)]
    cell = {(r["architecture"], r["dtype"], r["activation"]): r for r in traffic}
    for arch, dtype in dict.fromkeys((a, d) for a, d, _ in cell):
      out.append(f"| {arch} | {dtype} | " + " | ".join(
          f"{cell[arch, dtype, a]['kernel_bytes_vs_jax_nn']:.3f}" for a in jelu_names) + " |")
    out.append("")
  return "\n".join(out) + "\n"


def memory_chart(rows: list[dict], path: pathlib.Path) -> None:
  """One panel per target and dtype: temp memory over the no-activation network's."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  measured = {r["activation"] for r in rows}
  shown = [a for a in ("jelu.elu", "jelu.elu input", "jax.nn.elu", "jax.nn.relu", "jax.nn.gelu")
           if a in measured]
  panels = list(dict.fromkeys((r["target"], r["dtype"]) for r in rows))
  fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.9 * len(panels) + 0.8),
                           squeeze=False)
  top = max(r["temp_vs_identity"] for r in rows) * 1.05
  # One color per activation in every panel, so that one legend serves them all.
  colors = {name: f"C{i}" for i, name in enumerate(shown)}
  handles = {}
  for ax, (target, dtype) in zip(axes[:, 0], panels, strict=True):
    ratio = {(r["architecture"], r["activation"]): r["temp_vs_identity"] for r in rows
             if r["target"] == target and r["dtype"] == dtype}
    archs = list(dict.fromkeys(a for a, _ in ratio))
    here = [name for name in shown if (archs[0], name) in ratio]
    width = 0.8 / len(here)
    for i, name in enumerate(here):
      label = 'jelu.elu(residual="input")' if name == "jelu.elu input" else name
      handles[label] = ax.bar([a + i * width for a in range(len(archs))],
                              [ratio[arch, name] for arch in archs], width, color=colors[name])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([a + width * (len(here) - 1) / 2 for a in range(len(archs))], archs)
    ax.set_ylim(0.5, top)
    ax.set_ylabel("temp / no activation")
    ax.set_title(f"{TARGETS[target]}, {dtype}", fontsize=10)
  fig.suptitle("Train-step temporary memory over the network without activation "
               "(XLA's memory analysis)", fontsize=11)
  fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=len(handles),
             fontsize=8, bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()), frameon=False)
  fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / fig.get_figheight()))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def machine() -> dict:
  import flax

  return {**run.machine(), "flax": flax.__version__}


def main(argv: list[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="small sizes, a few activations")
  parser.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=["cpu", "h100"],
                      help="tpu-v5e needs libtpu (make bench-backends-tpu)")
  parser.add_argument("--activations", nargs="+", choices=list(architectures.ACTIVATIONS),
                      help="a subset (default: all)")
  parser.add_argument("--json", default=str(HERE / "backends.json"))
  parser.add_argument("--md", default=str(HERE / "RESULTS.md"))
  parser.add_argument("--png", default=str(HERE.parent / "docs" / "memory_backends.png"),
                      help="the chart; an empty string for none")
  parser.add_argument("--section", default="backends",
                      help="the part of --md the tables replace")
  args = parser.parse_args(argv)
  names = args.activations or list(architectures.ACTIVATIONS)
  if NONE not in names:
    names.append(NONE)
  scale = 1
  if args.quick:
    names, scale = ["jelu.elu", "jax.nn.elu", "jax.nn.relu", NONE], 8
  rows = rows_for(args.targets, list(DTYPES), names, scale)
  json_path = pathlib.Path(args.json)
  if json_path.exists() and not args.quick:  # keep the other targets' rows
    rows = [r for r in json.loads(json_path.read_text())["rows"]
            if r["target"] not in args.targets] + rows
    rows.sort(key=lambda r: list(TARGETS).index(r["target"]))
  results = {"machine": machine(), "scale": scale, "rows": rows}
  body = tables(results)
  print(body)
  json_path.write_text(json.dumps(results, indent=1) + "\n")
  if args.png:
    memory_chart(results["rows"], pathlib.Path(args.png))
  run.write_results_md(pathlib.Path(args.md), body, section=args.section)
  print(f"wrote {args.json}, {args.md} ({args.section}) and {args.png or 'no chart'}")
  return results


if __name__ == "__main__":
  main()

