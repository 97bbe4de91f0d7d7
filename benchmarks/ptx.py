"""PTX instructions per element of jelu's and jax.nn's elementwise kernels, compiled for an H100.

An elementwise kernel runs at a copy's speed on a GPU only while it needs fewer instructions
per element than the memory system leaves time for (an H100, 3.35 TB/s and 67 TFLOP/s
float32: about 80 per float32 element read and written, 40 per bfloat16 one). Counting them
needs no GPU: with jax's CUDA plugin XLA compiles for the H100 that
``benchmarks/h100_sxm.txtpb`` describes and writes the PTX of every kernel it would launch
(``xla_dump_to``). Each kernel that reads or writes arrays of the input's size is counted:
the instructions of its body (no loops at these sizes) divided by the elements each thread
handles (the width of its vector stores). Kernels on scalars (alpha) are listed apart as
``launches``.

    python benchmarks/ptx.py                    # table, and benchmarks/ptx.json
    python benchmarks/ptx.py --json out/ptx.json

The functions are jelu's public ones and jax.nn's; "fwd+bwd" is ``jax.vjp`` of the function
and the cotangent's pull-back in one program (reads x and g, writes y and dx).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import pathlib
import re
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import backends  # noqa: E402  (sets the environment for a described device first)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jelu  # noqa: E402

N = 1 << 24
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# (activation, alpha): ELU at the default and at a per-call alpha, SELU, CELU.
FUNCTIONS = {
    "elu": (jelu.elu, jax.nn.elu, None),
    "elu alpha 1.7": (jelu.elu, jax.nn.elu, 1.7),
    "selu": (jelu.selu, jax.nn.selu, None),
    "celu alpha 1.5": (jelu.celu, jax.nn.celu, 1.5),
}
MODES = ("fwd", "fwd+bwd")

_ENTRY = re.compile(r"^\.visible \.entry (\w+)\(", re.M)
_VECTOR = re.compile(r"\.v(\d)\.")
_HLO_KERNEL = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.+?) (fusion|custom-call|copy)\(", re.M)


def _program(f, alpha, mode: str):
  call = (lambda x: f(x)) if alpha is None else (lambda x: f(x, alpha))
  return jax.jit(call) if mode == "fwd" else backends.run._fwd_bwd(call)


def _bodies(ptx: str) -> dict[str, list[str]]:
  """{kernel name: its instruction lines} of one PTX module."""
  kernels = {}
  for match in _ENTRY.finditer(ptx):
    body = ptx[ptx.index("{", match.end()):]
    body = body[:body.index("\n}")]
    kernels[match.group(1)] = [
        line.strip() for line in body.splitlines()[1:]
        if line.strip() and not line.strip().startswith((".", "//", "$", "{", "}"))]
  return kernels


def _array_kernels(hlo: str) -> set[str]:
  """Names of the kernels whose output holds at least N elements."""
  names = set()
  for name, shape, _ in _HLO_KERNEL.findall(hlo):
    sizes = [math.prod(int(d) for d in filter(None, dims.split(",")))
             for _, dims in backends._ARRAY.findall(shape)]
    if sizes and max(sizes) >= N:
      names.add(name)
  return names


def count(program, *args) -> dict:
  """Instructions per element of ``program``'s array kernels, compiled for the H100."""
  on_device = backends.sharding("h100")
  abstract = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=on_device) for a in args]
  with tempfile.TemporaryDirectory() as dump:
    compiled = program.trace(*abstract).lower(lowering_platforms=("cuda",)).compile(
        {"xla_dump_to": dump})
    kernels = {}
    for path in sorted(glob.glob(f"{dump}/*.ptx")):
      kernels.update(_bodies(pathlib.Path(path).read_text()))
  arrays = _array_kernels(compiled.as_text())
  per_element, launches = 0.0, 0
  for name, lines in kernels.items():
    if name not in arrays:
      launches += 1
      continue
    stores = [line for line in lines if line.startswith("st.global")]
    width = max(int(m.group(1)) if (m := _VECTOR.search(s)) else 1 for s in stores)
    per_element += len(lines) / width
  return {"per_element": per_element, "array_kernels": len(arrays & set(kernels)),
          "scalar_kernels": launches}


def measure() -> list[dict]:
  rows = []
  for dtype_name, dtype in DTYPES.items():
    x = jnp.zeros((N,), dtype)
    for fn_name, (ours, theirs, alpha) in FUNCTIONS.items():
      for mode in MODES:
        args = (x,) if mode == "fwd" else (x, x)
        for library, f in (("jelu", ours), ("jax.nn", theirs)):
          row = count(_program(f, alpha, mode), *args)
          rows.append({"function": fn_name, "mode": mode, "dtype": dtype_name,
                       "library": library, **row})
          print(f"{dtype_name} {fn_name} {mode} {library}: {row['per_element']:.1f}", flush=True)
  return rows


def table(rows: list[dict]) -> str:
  by = {(r["function"], r["mode"], r["dtype"], r["library"]): r for r in rows}
  lines = ["| kernel | float32 jelu | float32 jax.nn | bfloat16 jelu | bfloat16 jax.nn |",
           "|---|---|---|---|---|"]
  for fn_name in FUNCTIONS:
    for mode in MODES:
      cells = [f"{by[fn_name, mode, d, lib]['per_element']:.1f}"
               for d in DTYPES for lib in ("jelu", "jax.nn")]
      lines.append(f"| {fn_name} {mode} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", type=pathlib.Path, default=HERE / "ptx.json")
  args = parser.parse_args(argv)
  rows = measure()
  print(table(rows))
  args.json.parent.mkdir(parents=True, exist_ok=True)
  args.json.write_text(json.dumps({"jax": jax.__version__, "target": backends.TARGETS["h100"],
                                   "elements": N, "rows": rows}, indent=1) + "\n")
  return rows


if __name__ == "__main__":
  main()
