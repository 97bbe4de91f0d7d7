"""Every example runs in a tiny configuration, so the examples never rot."""

import importlib
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def load(monkeypatch):
  # The examples import each other as scripts do: from their own folder.
  monkeypatch.syspath_prepend(str(EXAMPLES))
  return importlib.import_module


def test_plot_activations_writes_its_pngs(load, tmp_path):
  paths = load("plot_activations").main(out=str(tmp_path), num=41)
  assert [p.name for p in paths] == ["elu.png", "selu.png", "celu.png", "activations.png"]
  assert all(p.read_bytes()[:8] == PNG for p in paths)


def test_self_normalizing_plots_per_layer_statistics(load, tmp_path):
  stats, paths = load("self_normalizing").main(out=str(tmp_path), depth=6, width=64, batch=256)
  assert set(stats) == {"jelu.selu", "jelu.elu", "relu"}
  assert all(s.shape == (6, 2) for s in stats.values())
  assert stats["relu"][-1, 1] < stats["jelu.selu"][-1, 1]
  assert paths[0].read_bytes()[:8] == PNG


def test_train_digits_is_deterministic_and_learns(load, tmp_path):
  train_digits = load("train_digits")
  results, paths = train_digits.main(out=str(tmp_path), epochs=3, hidden=32, depth=2)
  again, _ = train_digits.main(out=str(tmp_path), epochs=3, hidden=32, depth=2)
  assert [r["name"] for r in results] == list(train_digits.VARIANTS)
  for r, s in zip(results, again, strict=True):
    np.testing.assert_array_equal(r["train_loss"], s["train_loss"])
    assert r["train_loss"][-1] < r["train_loss"][0]
    assert r["test_accuracy"][-1] > 0.4  # chance is 0.1; 3 short epochs reach 0.6-0.8
  assert "test acc" in train_digits.table(results)
  assert paths[0].read_bytes()[:8] == PNG


def test_train_digits_nnx_learns(load):
  history = load("train_digits_nnx").main(epochs=3, hidden=32)
  assert len(history) == 3 and history[-1] > 0.4


def test_resnet_digits_learns_with_both_norms_and_the_fused_step_needs_less(load):
  results = load("train_resnet_digits").main(epochs=2, width=8)
  assert [r["name"] for r in results] == ["nn.BatchNorm + jelu.elu", "jelu.linen.BatchNormAct"]
  for r in results:
    assert r["train_loss"][-1] < 2.15  # chance is 2.30
  # The same model: the same accuracy (two epochs leave the running averages far from the
  # batch statistics, so it is low), and less memory fused.
  flax_norm, fused = results
  assert abs(fused["test_accuracy"] - flax_norm["test_accuracy"]) <= 0.02
  assert fused["temp_mib_1024"] < flax_norm["temp_mib_1024"]


def test_step_memory_compares_the_three_and_draws_them(load, tmp_path):
  step_memory = load("step_memory")
  rows, paths = step_memory.main(out=str(tmp_path), rounds=2)
  assert len(rows) == len(step_memory.MODELS) * len(step_memory.ACTIVATIONS)
  slack = 64 / 1024  # MiB, as the memory tests' (XLA's scalar buffers)
  for model in step_memory.MODELS:
    temp = {r["activation"]: r["temp_mib"] for r in rows if r["model"] == model}
    assert temp["jelu.elu"] <= min(temp["jax.nn.elu"], temp["jax.nn.relu"]) + slack, temp
    if model.startswith("transformer"):  # where the next layer keeps the output
      assert temp["jelu.elu"] < temp["jax.nn.elu"] and temp["jelu.elu"] < temp["jax.nn.relu"]
  assert all(r["time_vs_jax_nn"] > 0 for r in rows)
  assert "| jelu.elu |" in step_memory.table(rows)
  assert paths[0].read_bytes()[:8] == PNG
