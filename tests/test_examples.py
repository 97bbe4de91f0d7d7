"""Every example runs in a tiny configuration, so the examples never rot."""

import importlib.util
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
  spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_plot_activations_writes_its_pngs(tmp_path):
  paths = load("plot_activations").main(out=str(tmp_path), num=41)
  assert [p.name for p in paths] == ["elu.png", "selu.png", "celu.png", "activations.png"]
  for p in paths:
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
