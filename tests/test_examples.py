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
