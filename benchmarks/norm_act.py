"""The fused norm and activation (jelu.linen.BatchNormAct and kin): memory and gradient error.

Memory: the train step of a Conv -> norm -> activation stack (4 x Conv 3x3, channels 64, 64,
128, 128, on [batch, 32, 32, 3]; ``--norm`` BatchNorm, GroupNorm(32) or LayerNorm), XLA's
temp memory against the same stack with flax's norm and no activation, with flax's norm then
``jax.nn.elu`` or ``jelu.elu``, and the fused module with either residual. Compiled for this
CPU and, with ``--targets h100 tpu-v5e`` in make bench-backends' venv, for an H100 and a TPU
v5e (no GPU or TPU needed).

Accuracy: the gradients of ``jelu.norm_act`` (x, scale, bias) against a float64 reference, by
the norm's scale and bias (the bias moves the activation's input toward saturation), float32
and bfloat16, for both residuals: the largest error over the largest gradient of each kind.

Writes ``benchmarks/norm_act.json`` (or ``--json``) and prints markdown tables. Compiles and
computes on the CPU; asserts nothing. ``--disable NAME`` compiles without a measure of
``jelu._xla`` (docs/design.md). ``--docs`` prints the memory table of the docs page
"Norm and activation fused" from JSON files written before, and measures nothing.

    python benchmarks/norm_act.py
    python benchmarks/norm_act.py --docs benchmarks/norm_act-newest.json \\
        benchmarks/norm_act-newest-h100.json
    JAX_PLATFORMS=cpu JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 .venv-backends/bin/python \\
        benchmarks/norm_act.py --targets cpu h100 --json out/norm_act.json
    JAX_PLATFORMS=cpu .venv-backends/bin/python benchmarks/norm_act.py --targets tpu-v5e \\
        --json benchmarks/norm_act-tpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import jelu
import jelu._xla
from jelu import linen as jnn

HERE = pathlib.Path(__file__).resolve().parent
CHANNELS = (64, 64, 128, 128)
NORMS = {
    "batch": (lambda dtype: nn.BatchNorm(use_running_average=False, dtype=dtype),
              lambda dtype, residual: jnn.BatchNormAct(use_running_average=False, dtype=dtype,
                                                       residual=residual)),
    "group": (lambda dtype: nn.GroupNorm(num_groups=32, dtype=dtype),
              lambda dtype, residual: jnn.GroupNormAct(num_groups=32, dtype=dtype,
                                                       residual=residual)),
    "layer": (lambda dtype: nn.LayerNorm(dtype=dtype),
              lambda dtype, residual: jnn.LayerNormAct(dtype=dtype, residual=residual)),
}
VARIANTS = ("norm, no activation", "norm + jax.nn.elu", "norm + jelu.elu",
            'norm + jelu.elu "input"', 'fused "output"', 'fused "input"')


class Stack(nn.Module):
  norm: str
  variant: str
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    flax_norm, fused = NORMS[self.norm]
    for channels in CHANNELS:
      x = nn.Conv(channels, (3, 3), dtype=self.dtype)(x)
      if self.variant.startswith("fused"):
        x = fused(self.dtype, "input" if "input" in self.variant else "output")(x)
        continue
      x = flax_norm(self.dtype)(x)
      if "jax.nn" in self.variant:
        x = jax.nn.elu(x)
      elif "jelu" in self.variant:
        x = jelu.elu(x, residual="input" if "input" in self.variant else "output")
    return jnp.mean(x.astype(jnp.float32) ** 2)


def _compile_step(target: str):
  if target == "cpu":
    return lambda step, args: step.lower(*args).compile()
  spec = importlib.util.spec_from_file_location("backends", HERE / "backends.py")
  assert spec is not None and spec.loader is not None
  backends = importlib.util.module_from_spec(spec)
  sys.modules["backends"] = backends
  spec.loader.exec_module(backends)
  return lambda step, args: backends.compile_step(step, args, target)


def temp_bytes(compile_step, norm: str, variant: str, dtype, batch: int) -> int:
  model, x = Stack(norm, variant, dtype), jnp.ones((batch, 32, 32, 3), dtype)
  variables = model.init(jax.random.key(0), x)

  def loss(params, x):
    return model.apply({**variables, "params": params}, x, mutable=["batch_stats"])[0]

  analysis = compile_step(jax.jit(jax.grad(loss)), (variables["params"], x)).memory_analysis()
  return analysis.temp_size_in_bytes


def memory_rows(targets, batch: int, norms=tuple(NORMS),
                dtypes=("float32", "bfloat16")) -> list[dict]:
  rows = []
  for target in targets:
    compile_step = _compile_step(target)
    for dtype in dtypes:
      for norm in norms:
        none = temp_bytes(compile_step, norm, VARIANTS[0], jnp.dtype(dtype), batch)
        for variant in VARIANTS:
          temp = temp_bytes(compile_step, norm, variant, jnp.dtype(dtype), batch)
          rows.append({"target": target, "dtype": dtype, "norm": norm, "variant": variant,
                       "batch": batch, "temp_bytes": temp, "vs_norm_alone": temp / none})
  return rows


def _reference(x, scale, bias, g, axes, epsilon=1e-5):
  """norm -> ELU in float64 with jax's autodiff (x64), independent of jelu's rules."""
  def f(x, s, b):
    mean = x.mean(axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axes, keepdims=True)
    z = (x - mean) / jnp.sqrt(var + epsilon) * s + b
    return jnp.sum(jnp.where(z > 0, z, jnp.expm1(jnp.minimum(z, 0))) * g)
  with jax.enable_x64(True):
    return [np.asarray(t) for t in jax.grad(f, (0, 1, 2))(
        *(jnp.asarray(np.asarray(v, np.float64)) for v in (x, scale, bias)))]


def accuracy_rows(scales=(1.0, 0.1, 0.01), biases=(0.0, -2.0, -4.0, -6.0)) -> list[dict]:
  rng = np.random.default_rng(0)
  x = (rng.normal(size=(32, 8, 8, 16)) * 2 + 0.5).astype(np.float32)
  g = rng.normal(size=x.shape).astype(np.float32)
  axes = (0, 1, 2)
  rows = []
  for dtype in ("float32", "bfloat16"):
    xd = jnp.asarray(x, dtype)
    for residual in ("output", "input"):
      for scale in scales:
        for bias in biases:
          s = np.full((16,), scale, np.float32)
          b = np.full((16,), bias, np.float32)

          def f(x, s, b, residual=residual, dtype=dtype):
            y = jelu.norm_act(x, s, b, axes=axes, residual=residual, dtype=dtype)[0]
            return jnp.sum(y.astype(jnp.float32) * g)

          got = jax.grad(f, (0, 1, 2))(xd, s, b)
          want = _reference(np.asarray(xd, np.float32), s, b, g, axes)
          errors = {name: float(np.max(np.abs(np.asarray(a, np.float64) - w))
                                / max(np.max(np.abs(w)), 1e-300))
                    for name, a, w in zip(("dx", "dscale", "dbias"), got, want, strict=True)}
          saturated = float(np.mean(
              (np.asarray(x, np.float64) - x.mean(axes)) / x.std(axes) * scale + bias < -5.5))
          rows.append({"dtype": dtype, "residual": residual, "scale": scale, "bias": bias,
                       "share_below_-5.5": saturated, **errors})
  return rows


def tables(memory: list[dict], accuracy: list[dict]) -> str:
  out = []
  for target in sorted({r["target"] for r in memory}):
    for dtype in ("float32", "bfloat16"):
      out.append(f"\n{target}, {dtype}: temp memory over the stack with the norm alone\n")
      out.append("| | " + " | ".join(VARIANTS) + " |")
      out.append("|---|" + "---|" * len(VARIANTS))
      for norm in NORMS:
        cells = {r["variant"]: r["vs_norm_alone"] for r in memory
                 if r["target"] == target and r["dtype"] == dtype and r["norm"] == norm}
        if cells:
          out.append(f"| {norm} | " + " | ".join(f"{cells[v]:.3f}" for v in VARIANTS) + " |")
  out.append("\nGradient error of jelu.norm_act (ELU): the largest error over the largest "
             "gradient\n")
  out.append("| dtype | residual | scale | bias | share of z < -5.5 | dx | dscale | dbias |")
  out.append("|---|---|---|---|---|---|---|---|")
  for r in accuracy:
    out.append(f"| {r['dtype']} | {r['residual']} | {r['scale']:g} | {r['bias']:g} | "
               f"{r['share_below_-5.5']:.2f} | {r['dx']:.1e} | {r['dscale']:.1e} | "
               f"{r['dbias']:.1e} |")
  return "\n".join(out) + "\n"


_TARGET_LABELS = {"cpu": "XLA:CPU", "h100": "H100, compiled", "tpu-v5e": "TPU v5e, compiled"}


def docs_table(paths: list[str]) -> str:
  """One markdown row per backend, dtype and norm of the JSON files at ``paths``."""
  out = ["| backend, dtype | norm | " + " | ".join(VARIANTS[1:]) + " | jax |",
         "|---|---|" + "---|" * len(VARIANTS)]
  for path in paths:
    results = json.loads(pathlib.Path(path).read_text())
    memory = results["memory"]
    for target in dict.fromkeys(r["target"] for r in memory):
      for dtype in ("float32", "bfloat16"):
        for norm in NORMS:
          cells = {r["variant"]: r["vs_norm_alone"] for r in memory
                   if (r["target"], r["dtype"], r["norm"]) == (target, dtype, norm)}
          if cells:
            out.append(f"| {_TARGET_LABELS[target]}, {dtype} | {norm} | "
                       + " | ".join(f"{cells[v]:.3f}" for v in VARIANTS[1:])
                       + f" | {results['machine']['jax']} |")
  return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--targets", nargs="+", default=["cpu"], choices=list(_TARGET_LABELS))
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--json", default=str(HERE / "norm_act.json"))
  parser.add_argument("--disable", nargs="+", default=[], choices=jelu._xla.MEASURES,
                      help="compile without these measures of jelu._xla (docs/design.md)")
  parser.add_argument("--docs", nargs="+", metavar="JSON",
                      help="print the docs' memory table from these files; measure nothing")
  args = parser.parse_args(argv)
  if args.docs:
    print(docs_table(args.docs), end="")
    return {}
  with jelu._xla.disabled(*args.disable):
    memory = memory_rows(args.targets, args.batch)
  disabled = {"disabled": args.disable} if args.disable else {}
  results = {"machine": {"jax": jax.__version__, "cpu": "XLA:CPU of this machine", **disabled},
             "memory": memory, "accuracy": accuracy_rows()}
  print(f"jax {jax.__version__}" + tables(results["memory"], results["accuracy"]))
  pathlib.Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
  return results


if __name__ == "__main__":
  main()
