"""Mixed precision: temp memory of a bfloat16 training step with a learnable ELU.

The model is 8 (``--depth``) x (flax.linen Dense(width, dtype=bfloat16) -> learnable
ELU) + Dense(10), float32 params, softmax cross-entropy; the step is
``jax.jit(jax.grad(loss))``. The learnable ELU is ``jelu.linen.ELU(learnable=True)``
(scalar, or ``per_channel=True``) against ``jax.nn.elu`` with a float32 param alpha cast
to the input's dtype, which is what ``flax.linen.PReLU`` does with its slope, and against
``jelu.elu`` given the float32 alpha uncast (what ``jelu.linen.ELU`` did before it cast
alpha). Prints XLA's temp memory for each, and jelu's over jax.nn's with the same alpha
shape, and writes ``benchmarks/mixed_precision.json``. Compiles for the backend jax has, or
with ``--target`` for one of ``benchmarks/backends.py``'s (``h100``, the described H100, also
records the kernels' bytes read and written; ``tpu-v5e``), writing
``benchmarks/mixed_precision-<target>.json``. Compiles only; asserts nothing.

    python benchmarks/mixed_precision.py                        # batch 2048, width 1024
    python benchmarks/mixed_precision.py --batch 64 --width 128
    # sizes as BATCHxWIDTHxDEPTH, in make bench-backends' venv (jax's CUDA plugin):
    JAX_PLATFORMS=cpu .venv-backends/bin/python benchmarks/mixed_precision.py --target h100 \
        --sizes 1024x512x4,2048x1024x8
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp

import jelu
import jelu._xla
from jelu import linen as jnn

HERE = pathlib.Path(__file__).resolve().parent
DEPTH = 8


class UncastELU(nn.Module):
  """jelu.elu with the float32 param alpha passed as is: the step is promoted to float32."""

  @nn.compact
  def __call__(self, x):
    return jelu.elu(x, self.param("alpha", nn.initializers.constant(1.0), (), jnp.float32))


class JaxNNELU(nn.Module):
  """jax.nn.elu with a learnable alpha, cast to the input's dtype as flax.linen.PReLU does."""

  per_channel: bool = False

  @nn.compact
  def __call__(self, x):
    shape = (x.shape[-1],) if self.per_channel else ()
    alpha = self.param("alpha", nn.initializers.constant(1.0), shape, jnp.float32)
    return jax.nn.elu(x, alpha.astype(x.dtype))


ACTIVATIONS = {
    "jelu.linen.ELU(learnable=True)": lambda: jnn.ELU(learnable=True),
    "jax.nn.elu, alpha cast to bf16": lambda: JaxNNELU(),
    "jelu.elu, float32 alpha not cast": lambda: UncastELU(),
    "jelu.linen.ELU(learnable=True, per_channel=True)":
        lambda: jnn.ELU(learnable=True, per_channel=True),
    "jax.nn.elu, per-channel alpha cast to bf16": lambda: JaxNNELU(per_channel=True),
}


# Each jelu step against jax.nn's with the same alpha shape.
AGAINST = {
    "jelu.linen.ELU(learnable=True)": "jax.nn.elu, alpha cast to bf16",
    "jelu.elu, float32 alpha not cast": "jax.nn.elu, alpha cast to bf16",
    "jelu.linen.ELU(learnable=True, per_channel=True)":
        "jax.nn.elu, per-channel alpha cast to bf16",
}


class MLP(nn.Module):
  width: int
  depth: int
  make_activation: object

  @nn.compact
  def __call__(self, x):
    for _ in range(self.depth):
      x = self.make_activation()(nn.Dense(self.width, dtype=jnp.bfloat16)(x))
    return nn.Dense(10)(x)


@functools.cache
def _run():
  """benchmarks/run.py, loaded once (its `load_sibling`)."""
  sys.path.insert(0, str(HERE))
  import run

  return run


@functools.cache
def _backends():
  """benchmarks/backends.py, loaded once and only to compile for a described target: it sets
  environment defaults for jax's plugins (the CUDA version check skipped, among others)
  that a run on the backend jax has should not get."""
  return _run().load_sibling("backends")


def compiled_step(make_activation, batch: int, width: int, depth: int = DEPTH,
                  target: str | None = None):
  """One jitted gradient step of the bfloat16 MLP, compiled for the backend jax has or for
  ``target`` (``benchmarks/backends.py``'s)."""
  model = MLP(width, depth, make_activation)
  x = jax.random.normal(jax.random.key(1), (batch, width), jnp.bfloat16)
  labels = jax.random.randint(jax.random.key(2), (batch,), 0, 10)
  params = model.init(jax.random.key(0), x)

  def loss(params, x, labels):
    logits = model.apply(params, x).astype(jnp.float32)
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked)

  step = jax.jit(jax.grad(loss))
  if target is None:
    return step.lower(params, x, labels).compile()
  return _backends().compile_step(step, (params, x, labels), target)


def temp_bytes(make_activation, batch: int, width: int, depth: int = DEPTH,
               target: str | None = None) -> int:
  """XLA's temp memory for `compiled_step`."""
  return compiled_step(make_activation, batch, width, depth, target).memory_analysis(
      ).temp_size_in_bytes


def _sizes(text: str) -> list[tuple[int, int, int]]:
  """"1024x512x4,64x128x4" -> [(1024, 512, 4), (64, 128, 4)]: batch, width, depth."""
  try:
    sizes = [tuple(int(n) for n in size.split("x")) for size in text.split(",")]
  except ValueError:
    sizes = []
  if not sizes or any(len(size) != 3 or min(size) < 1 for size in sizes):
    raise argparse.ArgumentTypeError(
        f"{text!r}: sizes are BATCHxWIDTHxDEPTH of positive integers, comma-separated")
  return sizes  # type: ignore[return-value]


def _row(name: str, batch: int, width: int, depth: int, target: str | None) -> dict:
  compiled = compiled_step(ACTIVATIONS[name], batch, width, depth, target)
  row = {"activation": name, "target": target or jax.default_backend(),
         "device": _backends().TARGETS[target] if target else jax.devices()[0].device_kind,
         "jax": jax.__version__, "batch": batch, "width": width, "depth": depth,
         "temp_bytes": compiled.memory_analysis().temp_size_in_bytes}
  if target == "h100":
    row["kernel_bytes"] = _backends().kernel_bytes(compiled.as_text())
  return row


def main(argv: list[str] | None = None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=2048)
  parser.add_argument("--width", type=int, default=1024)
  parser.add_argument("--depth", type=int, default=DEPTH)
  parser.add_argument("--sizes", type=_sizes,
                      help="BATCHxWIDTHxDEPTH,...: several sizes in place of the three above")
  parser.add_argument("--target", help="compile for one of benchmarks/backends.py's targets "
                      "(cpu, h100, tpu-v5e) instead of the backend jax has")
  parser.add_argument("--json", help="default: benchmarks/mixed_precision.json, with --target "
                      "benchmarks/mixed_precision-<target>.json")
  parser.add_argument("--disable", nargs="+", default=[], choices=jelu._xla.MEASURES,
                      help="compile without these measures of jelu._xla (docs/design.md); "
                      "the rows then go to out/ unless --json says otherwise")
  args = parser.parse_args(argv)
  sizes = args.sizes or [(args.batch, args.width, args.depth)]
  with jelu._xla.disabled(*args.disable):
    rows = [_row(name, batch, width, depth, args.target)
            for batch, width, depth in sizes for name in ACTIVATIONS]
  for row in rows:
    row["disabled"] = args.disable
  for batch, width, depth in sizes:
    here = {r["activation"]: r for r in rows
            if (r["batch"], r["width"], r["depth"]) == (batch, width, depth)}
    print(f"bfloat16 step, {depth} x Dense({width}) at batch {batch}, jax {jax.__version__}, "
          f"compiled for {rows[0]['device']}"
          + (f", without {', '.join(args.disable)}" if args.disable else ""))
    print(f"| {'activation':<50} | temp MiB | over jax.nn | kernel bytes over jax.nn |")
    print(f"|{'-' * 52}|----------|-------------|--------------------------|")
    for name, row in here.items():
      over = traffic = ""
      if name in AGAINST:
        over = f"{row['temp_bytes'] / here[AGAINST[name]]['temp_bytes']:.3f}"
        if "kernel_bytes" in row:
          traffic = f"{row['kernel_bytes'] / here[AGAINST[name]]['kernel_bytes']:.3f}"
      print(f"| {name:<50} | {row['temp_bytes'] / 2**20:8.1f} | {over:>11} | {traffic:>24} |")
  if args.disable:
    default = HERE.parent / "out" / f"mixed_precision-without-{'-'.join(args.disable)}.json"
    default.parent.mkdir(exist_ok=True)
  elif args.target:
    default = HERE / f"mixed_precision-{args.target}.json"
  else:
    default = HERE / "mixed_precision.json"
  pathlib.Path(args.json or default).write_text(json.dumps(rows, indent=1) + "\n")
  return rows


if __name__ == "__main__":
  main()
