"""The benchmark script runs end to end at tiny sizes (no timing is asserted)."""

import json
import pathlib
import re

import pytest

import jelu
import jelu._xla

import helpers

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_benchmark_quick_run_writes_json_and_markdown(tmp_path):
  bench = helpers.load_benchmark("run")
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
  assert "| cnn-bn |" in out_md.read_text()
  assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert {r["call"] for r in results["eager"]} >= {"elu(x)", "selu(x)", "celu(x, jnp alpha)"}
  assert "| `elu(x, 0.5)` | 128 |" in out_md.read_text()
  costs = {r["function"]: r for r in results["eager_costs"]}
  assert costs["jelu.elu"]["flops_per_element"] > costs["jax.nn.elu"]["flops_per_element"] > 0


def test_live_peak_reports_a_peak_no_larger_than_the_temp_memory():
  temp, peak, out = helpers.live_peak("mlp-3d", "jelu.elu", "--scale", "8")
  assert out.startswith("mlp-3d, jelu.elu, cpu float32: temp "), out
  assert 0 < peak <= temp
  assert "cond" in out  # y, computed inside the conditional, is live at the peak


def _shapes():
  shapes = helpers.load_benchmark("shapes")
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


def test_measures_compiles_each_step_with_and_without_the_measure():
  # benchmarks/measures.py, memory only: before a classifier's head after a norm the
  # residual="input" step without jelu._xla.written_once_on_cpu keeps at least one array more
  # (f32[16, 32, 32, 32], 2 MiB; tests/test_memory.py has the relations).
  measures = helpers.load_benchmark("measures")
  (once,) = measures.main(["--measures", "written_once_on_cpu", "--archs", "cnn-bn", "--acts",
                           "jelu.elu input", "--head", "--scale", "4"])
  assert once["temp_bytes_without"] - once["temp_bytes"] >= 2 * 2**20 - 4096
  assert "time_ratio" not in once


def test_disabled_takes_only_jelus_measures():
  with pytest.raises(ValueError, match="unknown measures"):
    with jelu._xla.disabled("kept_apart_on_tpu"):
      pass


def test_the_gpu_benchmark_measures_on_the_device_it_has_and_writes_its_part(tmp_path):
  # benchmarks/gpu.py (run on a GPU where there is one) on this CPU at scale 16: each step's
  # temp bytes are an independent compile's, each step is timed, and --tables writes RESULTS.md's
  # gpu part from the JSON.
  gpu = helpers.load_benchmark("gpu")
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


def test_the_headline_table_is_the_readmes(capsys):
  # benchmarks/headline.py makes the README's table from backends.json and gpu.json.
  helpers.load_benchmark("headline").main([])
  table = capsys.readouterr().out.strip()
  assert table.count("\n") == 9  # header, rule, CPU, H100, TPU and the GPU run, 2 dtypes each
  assert table in (ROOT / "README.md").read_text()


def test_the_memory_pages_tables_are_the_benchmarks():
  # docs/memory.md's tables are benchmarks/headline.py --docs of the JSON the benchmarks wrote.
  tables = helpers.load_benchmark("headline").docs_tables()
  assert tables.count("**") == 2 * 6  # CPU and H100 on two releases, the H200 run, the TPU
  assert tables.count("| cnn-gn |") == 6
  assert tables in (ROOT / "docs" / "memory.md").read_text()


def test_the_norm_act_pages_tables_are_the_benchmarks():
  # docs/norm-act.md's memory tables are benchmarks/norm_act.py --docs of the JSON it wrote.
  bench = helpers.load_benchmark("norm_act")
  page = (ROOT / "docs" / "norm-act.md").read_text()
  for names, backends in ((["norm_act.json", "norm_act-tpu.json"], 3),
                          (["norm_act-newest.json", "norm_act-newest-h100.json"], 2)):
    table = bench.docs_table([str(ROOT / "benchmarks" / name) for name in names])
    assert table.count("\n") == 2 + 6 * backends, table  # 2 dtypes, 3 norms each
    assert table in page, names


def test_the_norm_act_benchmark_measures_errors_and_memory(tmp_path):
  bench = helpers.load_benchmark("norm_act")
  rows = bench.accuracy_rows(scales=(1.0,), biases=(0.0,))
  assert [(r["dtype"], r["residual"]) for r in rows] == [
      ("float32", "output"), ("float32", "input"), ("bfloat16", "output"), ("bfloat16", "input")]
  for r in rows:
    bound = 1e-5 if r["dtype"] == "float32" else 1e-2
    assert 0 < r["dx"] < bound and 0 < r["dscale"] < bound and 0 < r["dbias"] < bound, r
  memory = bench.memory_rows(["cpu"], batch=2, norms=("batch",), dtypes=("float32",))
  assert {r["variant"] for r in memory} == set(bench.VARIANTS)
  assert all(r["vs_norm_alone"] == 1.0 for r in memory if r["variant"] == bench.VARIANTS[0])
  assert "| batch |" in bench.tables(memory, rows)
