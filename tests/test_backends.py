"""Train-step memory where models train: compiled for an H100, a TPU v5e and this CPU.

The steps of benchmarks/architectures.py at a quarter of the benchmark's widths, compiled by
benchmarks/backends.py: for XLA:GPU with jax's CUDA plugin, which compiles for a described
H100 without one, for XLA:TPU with libtpu, which compiles for a described TPU v5e chip
(``make test-backends`` installs both; without the plugin the module is skipped, without
libtpu its TPU cells), and for XLA:CPU in bfloat16 (CPU float32 is tests/test_memory.py's).
Each test is one relation that jelu keeps on every backend and dtype, measured against
jax.nn, ReLU and the network without activation in the same run, with the tolerances
stated beside it; none pins a release's bytes.
"""

import functools
import importlib.util

import jax.numpy as jnp
import pytest

import helpers
from helpers import fails_where

# One skip for the module where jax's CUDA plugin is not installed (make test, test-oldest):
# make test-backends installs it, with the jax of constraints.txt these cells were measured on.
pytest.importorskip("jax_plugins.xla_cuda12", reason="make test-backends installs the plugin")

backends = helpers.load_benchmark("backends")
mixed_precision = backends.run.load_sibling("mixed_precision")

SCALE = 4
# Bytes that are not arrays of the network's size (alpha, the CPU conditional's predicate,
# a kernel reading alpha, alignment): far below the smallest activation here.
SLACK = 64 * 1024
KINDS = ("elu", "selu", "celu")
AFTER_DENSE_OR_CONV = ("mlp-2d", "mlp-3d", "pre-ln", "mixer", "cnn")
AFTER_A_NORM = ("cnn-bn", "cnn-gn")
TARGET_DTYPES = [("h100", "float32"), ("h100", "bfloat16"), ("cpu", "bfloat16")]
# XLA:TPU tiles an array's minor dimension in 128 lanes, so at these widths a CNN's 16 and 32
# channels fill an eighth and a quarter of each tile and its figures are not the benchmark's
# (float32 cnn: jelu 44.65 MiB, jax.nn 38.22, where at full width both need 148.2), and each
# CNN step takes 15-25 s to compile here. The Dense networks compile in seconds and keep the
# full widths' relations, but for the bfloat16 mixer (packing, see PACKING): the TPU's cells are
# those. Without the barrier on the forward's 16-bit output (jelu._xla.narrowed) bfloat16
# mlp-3d and pre-ln need more than ReLU (docs/design.md).
TPU_DTYPES = [("tpu-v5e", "float32"), ("tpu-v5e", "bfloat16")]
TPU_ARCHS = ("mlp-2d", "mlp-3d", "pre-ln", "mixer")
_NO_LIBTPU = pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                                reason="make test-backends installs libtpu")


def _needs(target: str) -> list:
  """The marks a cell of ``target`` needs to run: libtpu for the TPU's."""
  return [_NO_LIBTPU] if target == "tpu-v5e" else []

# Cells where XLA's heap packing of the temp block leaves gaps the other's does not: there
# the relation is held on the live peak (benchmarks/live_peak.py), the bytes of the buffers
# live at once, rather than on the block's size. Measured with jax 0.10.2 at these widths (at
# the benchmark's the temp blocks keep the relation too). (target, dtype, architecture,
# relation, kind.)
PACKING = {
    *(("h100", "float32", "mixer", "relu", kind) for kind in KINDS),
    *(("tpu-v5e", "bfloat16", "mixer", "jax.nn", kind) for kind in KINDS),
}
# Kernel bytes (the H100 kernels' reads and writes, a proxy for time) may exceed jax.nn's by
# this much: after a norm the default's backward reads the kept y beside the convolution
# output the norm keeps, where jax.nn's recomputes its slope from that output (float32
# cnn-bn at these widths 1.098x; at the benchmark's widths 0.89x; docs/memory.md).
TRAFFIC_TOLERANCE = 0.10


@functools.cache
def cell(target: str, dtype: str, arch: str, act: str) -> dict:
  return backends.measure(target, dtype, arch, act, SCALE)


_H100 = [t for t in TARGET_DTYPES if t[0] == "h100"]
# relation -> the (architectures, targets and dtypes) its test measures.
CELLS = {
    "jax.nn": [(AFTER_DENSE_OR_CONV + AFTER_A_NORM, TARGET_DTYPES), (TPU_ARCHS, TPU_DTYPES)],
    # XLA:TPU multiplies float32 matrices in bfloat16 passes, and ReLU's backward keeps the
    # bfloat16 copy the next weight gradient reads and a mask, where an ELU's slope needs a
    # float32 array (jax.nn's as jelu's): in float32 the TPU's cells are held against jax.nn.
    "relu": [(AFTER_DENSE_OR_CONV, TARGET_DTYPES), (TPU_ARCHS, [("tpu-v5e", "bfloat16")])],
    "input relu": [(AFTER_A_NORM, TARGET_DTYPES)],
    "traffic": [(AFTER_DENSE_OR_CONV + AFTER_A_NORM, _H100)],
    # The TPU's bfloat16 residual="input", whose Dense networks stand in for its CNNs here;
    # mlp-2d, where "input" needs 1.971x the network without activation (docs/design.md),
    # is left out.
    "input jax.nn": [(("mlp-3d", "pre-ln", "mixer"), [("tpu-v5e", "bfloat16")])],
}


def _cells(relation: str):
  """(target, dtype, architecture, kind) of every cell of ``relation``'s test."""
  for archs, targets in CELLS[relation]:
    for target, dtype in targets:
      for arch in archs:
        for kind in KINDS:
          yield target, dtype, arch, kind


def _params(relation: str) -> list:
  return [pytest.param(target, dtype, arch, kind, marks=_needs(target),
                       id=f"{target}-{dtype}-{arch}-{kind}")
          for target, dtype, arch, kind in _cells(relation)]


# relation -> (what jelu runs, what it is held against, the figure compared).
RELATIONS = {
    "jax.nn": ("jelu.{kind}", "jax.nn.{kind}", "temp_bytes"),
    "relu": ("jelu.{kind}", "jax.nn.relu", "temp_bytes"),
    "input relu": ("jelu.{kind} input", "jax.nn.relu", "temp_bytes"),
    "input jax.nn": ("jelu.{kind} input", "jax.nn.{kind}", "temp_bytes"),
    "traffic": ("jelu.{kind}", "jax.nn.{kind}", "kernel_bytes"),
}


def compare(relation: str, target: str, dtype: str, arch: str, kind: str):
  """(jelu's figure, the other's figure, its key) for one relation in one cell."""
  ours, other, key = RELATIONS[relation]
  return (cell(target, dtype, arch, ours.format(kind=kind))[key],
          cell(target, dtype, arch, other.format(kind=kind))[key], key)


def _assert_holds(relation, target, dtype, arch, kind):
  if (target, dtype, arch, relation, kind) in PACKING:
    ours, other, _ = RELATIONS[relation]
    ours, other = (live_peak(target, dtype, arch, act.format(kind=kind))
                   for act in (ours, other))
    key, tolerance = "live peak", 0.0
  else:
    ours, other, key = compare(relation, target, dtype, arch, kind)
    tolerance = TRAFFIC_TOLERANCE if key == "kernel_bytes" else 0.0
  assert ours <= other * (1 + tolerance) + SLACK, (
      f"{key}: jelu {ours / 2**20:.2f} MiB, other {other / 2**20:.2f}")


@pytest.mark.parametrize("target,dtype,arch,kind", _params("jax.nn"))
def test_the_default_needs_no_more_memory_than_jax_nn(target, dtype, arch, kind):
  _assert_holds("jax.nn", target, dtype, arch, kind)


@pytest.mark.parametrize("target,dtype,arch,kind", _params("relu"))
def test_after_dense_or_conv_no_more_memory_than_relu(target, dtype, arch, kind):
  _assert_holds("relu", target, dtype, arch, kind)


@pytest.mark.parametrize("target,dtype,arch,kind", _params("input relu"))
def test_after_a_norm_the_input_residual_needs_no_more_memory_than_relu(target, dtype, arch,
                                                                        kind):
  _assert_holds("input relu", target, dtype, arch, kind)


@pytest.mark.parametrize("target,dtype,arch,kind", _params("input jax.nn"))
def test_the_tpus_bfloat16_input_residual_needs_no_more_memory_than_jax_nn(target, dtype, arch,
                                                                          kind):
  # Before the slope was read off the forward's output there, mlp-3d's ELU needed 2.01x the
  # network without activation at full width, jax.nn's 1.27x.
  _assert_holds("input jax.nn", target, dtype, arch, kind)


@pytest.mark.parametrize("target,dtype,arch,kind", _params("traffic"))
def test_the_gpu_kernels_move_no_more_bytes_than_jax_nn(target, dtype, arch, kind):
  _assert_holds("traffic", target, dtype, arch, kind)


@functools.cache
def live_peak(target: str, dtype: str, arch: str, act: str) -> int:
  """The live-peak bytes of one cell, from benchmarks/live_peak.py."""
  return helpers.live_peak(arch, act, "--target", target, "--dtype", dtype,
                           "--scale", str(SCALE))[1]


def test_every_packing_entry_names_a_cell_the_tests_measure():
  measured = {(target, dtype, arch, relation, kind) for relation in CELLS
              for target, dtype, arch, kind in _cells(relation)}
  assert PACKING <= measured, sorted(PACKING - measured)


def test_a_bfloat16_output_keeps_no_float32_copy_on_the_gpu():
  # Without jelu._xla.narrowed, XLA:GPU's excess precision keeps a float32 y beside the
  # bfloat16 one (docs/design.md: mlp-2d 1.533x the network without activation).
  ours = cell("h100", "bfloat16", "mlp-2d", "jelu.elu")
  none = cell("h100", "bfloat16", "mlp-2d", "identity")
  assert ours["temp_bytes"] <= 1.2 * none["temp_bytes"], (ours["temp_bytes"], none["temp_bytes"])


@pytest.mark.parametrize("ours,theirs", [
    pytest.param("jelu.linen.ELU(learnable=True)", "jax.nn.elu, alpha cast to bf16", id="scalar"),
    pytest.param("jelu.linen.ELU(learnable=True, per_channel=True)",
                 "jax.nn.elu, per-channel alpha cast to bf16", id="per-channel",
                 marks=fails_where(True, "jelu 8.50 MiB, jax.nn 8.00 MiB: XLA:GPU fuses neither "
                                   "summand into the reduction over the batch, and jelu's is "
                                   "float32 where jax.nn's is bfloat16 (RESULTS.md)")),
])
def test_a_learnable_alphas_bfloat16_step_needs_no_more_memory_than_jax_nns_on_the_gpu(
    ours, theirs):
  # benchmarks/mixed_precision.py's step at 4 x Dense(512), batch 1024, compiled for the H100.
  # With jelu._expm1.expm1_neg's polynomial in place of jelu._xla.libdevice_expm1_on_gpu the
  # scalar alpha's float32 summand is written out: 8.50 MiB against jax.nn's 8.00.
  ours, theirs = (mixed_precision.temp_bytes(mixed_precision.ACTIVATIONS[name], batch=1024,
                                             width=512, depth=4, target="h100")
                  for name in (ours, theirs))
  assert ours <= theirs + SLACK, (ours, theirs)


norm_act = helpers.load_benchmark("norm_act")


@pytest.mark.parametrize("norm,dtype,batch", [
    *((norm, dtype, 16) for norm in ("batch", "group", "layer")
      for dtype in ("float32", "bfloat16")),
    ("group", "bfloat16", 64)])
def test_a_fused_norm_needs_less_than_the_norm_alone_on_the_gpu(norm, dtype, batch):
  # benchmarks/norm_act.py's Conv -> norm stack compiled for the H100: the fused block keeps
  # what the next convolution keeps, so it needs less than flax's norm with no activation,
  # and no more than with jax.nn.elu. At batch 64 without jelu._xla.summed_together the
  # bfloat16 GroupNorm wrote a float32 summand per layer: 0.888x the norm alone, where
  # flax's GroupNorm and jax.nn.elu need 0.779x (docs/norm-act.md).
  def temp(variant):
    return norm_act.temp_bytes(compile_step, norm, variant, jnp.dtype(dtype), batch)

  compile_step = functools.partial(backends.compile_step, target="h100")
  fused, alone, theirs = (temp(v) for v in ('fused "output"', "norm, no activation",
                                            "norm + jax.nn.elu"))
  assert fused < alone and fused <= theirs + SLACK, (fused, alone, theirs)


@_NO_LIBTPU
@pytest.mark.parametrize("norm,dtype", [("batch", "float32"), ("batch", "bfloat16")])
def test_a_fused_batch_norm_needs_no_more_than_jax_nn_on_the_tpu(norm, dtype):
  # The same stack compiled for a TPU v5e, where XLA:TPU recomputes flax's norm and
  # jax.nn.elu inside the convolutions, so they cost nothing. XLA:TPU's layouts are tiled:
  # a flattened copy of the cotangent cost the fused block 1.2x (docs/norm-act.md). In
  # float32 it needs 0.2 MB more than jax.nn's at batch 16 and 64 alike: 1.004x, 1.001x.
  def temp(variant):
    return norm_act.temp_bytes(compile_step, norm, variant, jnp.dtype(dtype), 16)

  compile_step = functools.partial(backends.compile_step, target="tpu-v5e")
  fused, theirs = temp('fused "output"'), temp("norm + jax.nn.elu")
  assert fused <= 1.01 * theirs, (fused, theirs)


@_NO_LIBTPU
def test_a_fused_group_norm_keeps_the_channels_layout_on_the_tpu():
  # Split into [..., groups, channels / groups], a group norm's arrays have a few channels
  # as their minor dimension, which XLA:TPU pads to 128 lanes: the bfloat16 GroupNormAct
  # stack needed 8.09x flax's GroupNorm alone at batch 64; in the channels' layout 1.39x.
  def temp(variant):
    return norm_act.temp_bytes(compile_step, "group", variant, jnp.dtype("bfloat16"), 16)

  compile_step = functools.partial(backends.compile_step, target="tpu-v5e")
  fused, alone = temp('fused "output"'), temp("norm, no activation")
  assert fused <= 1.5 * alone, (fused, alone)


def test_kernel_bytes_counts_each_kernels_operands_and_result():
  hlo = """HloModule m

ENTRY %main (p0: f32[8], p1: bf16[4,4]) -> f32[8] {
  %p0 = f32[8]{0} parameter(0)
  %p1 = bf16[4,4]{1,0} parameter(1)
  %b = bf16[16]{0} bitcast(%p1)
  %f = (f32[8]{0}, bf16[16]{0}) fusion(%p0, %b), kind=kLoop, calls=%fused
  %g = f32[8]{0} get-tuple-element(%f), index=0
  ROOT %c = f32[8]{0} custom-call(%g), custom_call_target="x"
}
"""
  # fusion: reads 32 + 32, writes 32 + 32; custom-call: reads 32, writes 32.
  assert backends.kernel_bytes(hlo) == 4 * 32 + 2 * 32


def test_the_benchmark_writes_tables_json_and_a_chart(tmp_path):
  out_json, out_md, out_png = tmp_path / "b.json", tmp_path / "b.md", tmp_path / "b.png"
  results = backends.main(["--quick", "--targets", "h100", "--json", str(out_json),
                           "--md", str(out_md), "--png", str(out_png)])
  assert {(r["target"], r["dtype"]) for r in results["rows"]} == {
      ("h100", "float32"), ("h100", "bfloat16")}
  assert all(r["kernel_bytes"] > 0 for r in results["rows"])
  md = out_md.read_text()
  assert "<!-- backends:begin -->" in md and "### XLA:GPU, NVIDIA H100 SXM" in md
  assert "| mlp-2d | bfloat16 |" in md  # the traffic table
  assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_benchmark_writes_a_named_section_and_no_chart_when_asked(tmp_path):
  # make bench-backends-newest's options: its own part of RESULTS.md, no chart.
  out_json, out_md = tmp_path / "b.json", tmp_path / "b.md"
  backends.main(["--quick", "--targets", "cpu", "--json", str(out_json), "--md", str(out_md),
                 "--png", "", "--section", "backends-newest"])
  md = out_md.read_text()
  assert "<!-- backends-newest:begin -->" in md and "<!-- backends:begin -->" not in md
  assert "### XLA:CPU, this machine, float32" in md
  assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.md"]
