"""The benchmark script runs end to end at tiny sizes (no timing is asserted)."""

import importlib.util
import json
import pathlib
import re
import subprocess
import sys

import jelu

import helpers

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_benchmark_quick_run_writes_json_and_markdown(tmp_path):
  spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "run.py")
  assert spec is not None and spec.loader is not None
  bench = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(bench)
  out_json, out_md, out_png = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "m.png"
  bench.main(["--quick", "--json", str(out_json), "--md", str(out_md), "--png", str(out_png)])
  results = json.loads(out_json.read_text())
  names = {r["activation"] for r in results["train_step"]}
  assert {"jelu.elu", "jax.nn.elu", "jax.nn.relu", "identity"} <= names
  jelu_elu = next(r for r in results["train_step"] if r["activation"] == "jelu.elu")
  assert jelu_elu["temp_vs_jax_nn"] < 1
  assert "<!-- results:begin -->" in out_md.read_text()
  assert "| jelu.elu fwd+bwd | float32 |" in out_md.read_text()
  archs = {r["architecture"] for r in results["architectures"]}
  assert {"mlp-3d", "pre-ln", "cnn", "cnn-bn", "cnn-gn", "mixer"} <= archs
  assert all(r["largest_batch"] > 0 for r in results["architectures"])
  assert "**cnn-bn**" in out_md.read_text()
  assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert {r["call"] for r in results["eager"]} >= {"elu(x)", "selu(x)", "celu(x, jnp alpha)"}
  assert "| `elu(x, 0.5)` | 128 |" in out_md.read_text()
  costs = {r["function"]: r for r in results["eager_costs"]}
  assert costs["jelu.elu"]["flops_per_element"] > costs["jax.nn.elu"]["flops_per_element"] > 0


def test_tpu_celu_values_compares_the_tpus_quotient_with_the_division(tmp_path):
  # benchmarks/tpu_celu_values.py on every 4099th negative float32 input: at a power of two
  # 1 / alpha is exact and the bits are the division's; at 1.7 both stay within 0.61 ulp.
  spec = importlib.util.spec_from_file_location(
      "tpu_celu_values", ROOT / "benchmarks" / "tpu_celu_values.py")
  assert spec is not None and spec.loader is not None
  values = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(values)
  out = tmp_path / "values.json"
  values.main(out, alphas=(2.0, 1.7), step=4099)
  two, other = json.loads(out.read_text())["rows"]
  assert two["alpha"] == 2.0 and two["inputs"] > 250_000 and two["differ"] == 0
  assert other["inputs"] > 250_000
  assert max(two["division"], two["reciprocal"], other["division"], other["reciprocal"]) < 0.61


def test_live_peak_reports_a_peak_no_larger_than_the_temp_memory():
  temp, peak, out = helpers.live_peak("mlp-3d", "jelu.elu", "--scale", "8")
  assert out.startswith("mlp-3d, jelu.elu, cpu float32: temp "), out
  assert 0 < peak <= temp
  assert "cond" in out  # y, computed inside the conditional, is live at the peak


def test_where_a_cheaper_kernel_differs_jelu_is_mostly_the_one_rounded_once():
  # benchmarks/tpu_fusion.py's value table: every negative finite bfloat16 input through
  # jelu and through jelu with its kernel swapped for the single-float one and for XLA's
  # expm1 times alpha, which XLA:TPU would fuse, against float64 numpy rounded once. Then
  # jelu's values again, after the swaps.
  code = ("import sys; sys.path.insert(0, 'benchmarks'); import tpu_fusion, jax.numpy as jnp; "
          "import numpy as np, ml_dtypes; "
          "x = jnp.asarray(np.arange(0x8000, 0xFF80, dtype=np.uint16).view(ml_dtypes.bfloat16)); "
          "before = tpu_fusion.jelu.celu(x, 3.0); tpu_fusion.values(); "
          "print('restored:', bool((tpu_fusion.jelu.celu(x, 3.0) == before).all()))")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=True).stdout
  rows = re.findall(r"^\| (\w+) \| ([\w.]+) \| (\d+)((?: \| \d+){6}) \|$", out, re.M)
  assert len(rows) == 6, out
  ours, theirs = [0, 0], [0, 0]
  for name, alpha, inputs, counts in rows:
    assert int(inputs) > 32_000
    counts = [int(c) for c in counts.split("|")[1:]]
    for k in range(2):
      differ, ours_right, theirs_right = counts[3 * k:3 * k + 3]
      assert ours_right + theirs_right <= differ, (name, alpha)
      ours[k], theirs[k] = ours[k] + ours_right, theirs[k] + theirs_right
  for k in range(2):
    assert ours[k] > 10 * theirs[k], (ours, theirs)
  assert "restored: True" in out


def _shapes():
  spec = importlib.util.spec_from_file_location("shapes", ROOT / "benchmarks" / "shapes.py")
  assert spec is not None and spec.loader is not None
  shapes = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(shapes)
  return shapes


def test_shapes_names_the_relations_that_miss_by_more_than_the_slack():
  shapes = _shapes()
  mib = 2**20
  after_dense = {"identity": 100 * mib, "jax.nn.relu": 120 * mib, "jax.nn.elu": 150 * mib,
                 "jelu.elu": 120 * mib + shapes.SLACK, "jelu.elu input": 200 * mib}
  assert shapes.misses(shapes.AFTER_DENSE, after_dense) == []
  after_dense["jelu.elu"] += 1
  assert shapes.misses(shapes.AFTER_DENSE, after_dense) == ["default > ReLU (1.200 against 1.200)"]
  after_norm = {"identity": 100 * mib, "jax.nn.relu": 100 * mib, "jax.nn.elu": 120 * mib,
                "jelu.elu": 130 * mib, "jelu.elu input": 110 * mib}
  assert shapes.misses(shapes.AFTER_NORM, after_norm) == [
      "default > jax.nn (1.300 against 1.200)", '"input" > ReLU (1.100 against 1.000)']


def test_at_other_widths_and_depths_jelu_keeps_its_relations_on_this_cpu():
  # Two shapes of benchmarks/shapes.py on XLA:CPU in float32 (measured with jax 0.10.2:
  # BERT-base's MLP block 1.16x the network without activation, jax.nn 1.63x, ReLU 1.37x;
  # the deep 2-D MLP 1.00x, 2.45x and 1.73x; with jax 0.12 jax.nn's ELU needs ReLU's).
  shapes = _shapes()
  for name in ("BERT-base MLP block", "deep 2-D MLP"):
    place, arch = shapes.SHAPES[name]
    temp = {a: shapes.temp_bytes("cpu", "float32", arch, a)
            for a in ("jax.nn.relu", "jax.nn.elu", "jelu.elu")}
    assert place == shapes.AFTER_DENSE
    assert temp["jelu.elu"] < min(temp["jax.nn.relu"], temp["jax.nn.elu"]), (name, temp)


def test_cpu_measures_compiles_each_step_with_and_without_the_measure():
  # benchmarks/cpu_measures.py, memory only: before a classifier's head after a norm the
  # residual="input" step without jelu._xla.written_once_on_cpu keeps at least one array more
  # (f32[16, 32, 32, 32], 2 MiB, on jax 0.10 and 0.12; two on 0.9; tests/test_memory.py
  # has the relations).
  spec = importlib.util.spec_from_file_location(
      "cpu_measures", ROOT / "benchmarks" / "cpu_measures.py")
  assert spec is not None and spec.loader is not None
  measures = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(measures)
  (once,) = measures.main(["--measures", "written_once_on_cpu", "--archs", "cnn-bn", "--acts",
                            "jelu.elu input", "--head", "--scale", "4", "--reps", "0"])
  assert once["temp_bytes_without"] - once["temp_bytes"] >= 2 * 2**20 - 4096
  assert "time_ratio" not in once


def test_the_gpu_benchmark_measures_on_the_device_it_has_and_writes_its_part(tmp_path):
  # benchmarks/gpu.py (run on a GPU where there is one) on this CPU at scale 16: each step's
  # temp bytes are an independent compile's, each step is timed, and --tables writes RESULTS.md's
  # gpu part from the JSON.
  spec = importlib.util.spec_from_file_location("gpu", ROOT / "benchmarks" / "gpu.py")
  assert spec is not None and spec.loader is not None
  gpu = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(gpu)
  rows = gpu.cell_rows(gpu.compiled_cells(["float32"], ["jelu.elu", "identity"], 16), reps=1)
  assert {r["architecture"] for r in rows} == set(gpu.architectures.architectures(16))
  cnn = {r["activation"]: r for r in rows if r["architecture"] == "cnn"}
  arch = gpu.architectures.architectures(16)["cnn"]
  assert cnn["jelu.elu"]["temp_bytes"] == gpu.architectures.step_temp_bytes(arch, jelu.elu)
  ours, none = cnn["jelu.elu"], cnn["identity"]
  assert ours["temp_vs_identity"] == ours["temp_bytes"] / none["temp_bytes"]
  assert ours["step_vs_identity"] == ours["step_s"] / none["step_s"]
  assert all(r["step_s"] > 0 and r["kernel_bytes"] > 0 for r in rows)
  results = {"machine": gpu.backends.machine(), "rows": rows,
             "elementwise": gpu.run.elementwise([1024], ["float32"], 1)}
  (tmp_path / "g.json").write_text(json.dumps(results))
  md = tmp_path / "r.md"
  gpu.main(["--tables", str(tmp_path / "g.json"), "--md", str(md)])
  text = md.read_text()
  assert "<!-- gpu:begin -->" in text and "<!-- gpu:end -->" in text
  assert re.search(r"\| cnn-bn \| [\d.]+, [\d.]+ \| [\d.]+ / [\d.]+ \|", text), text
  assert "| jelu.elu fwd+bwd | float32 | 2^10 |" in text
