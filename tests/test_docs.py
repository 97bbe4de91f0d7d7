"""The documentation builds without warnings and its API page documents every public name."""

import importlib.util
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

import jelu

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def public_names():
  from jelu import linen, nnx

  names = [f"jelu.{n}" for n in jelu.__all__]
  for module in (linen, nnx):
    names += [f"{module.__name__}.{n}" for n, obj in vars(module).items()
              if not n.startswith("_") and inspect.isclass(obj)
              and obj.__module__ == module.__name__]
  return names


# The docs extra: Sphinx alone (as some images carry it) cannot build these pages.
DOCS_EXTRA = ("sphinx", "myst_parser", "sphinx-mathjax-offline")  # as docs/conf.py names them

# Sphinx runs in its own process: its -W judges the build's warnings, while the deprecation
# warnings that Sphinx's extensions raise among themselves are not the suite's concern.
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in DOCS_EXTRA),
                    reason="needs the docs extra")
def test_every_public_module_class_and_function_is_in_the_api_page(tmp_path):
  subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS),
                  str(tmp_path)], check=True)
  ids = set(re.findall(r'id="([^"]+)"', (tmp_path / "api.html").read_text()))
  expected = {"module-jelu", "module-jelu.linen", "module-jelu.nnx", *public_names()}
  # The modules, jelu's 7 names, and 7 classes in each of linen and nnx.
  assert len(expected) == 3 + 7 + 7 + 7
  assert expected <= ids, sorted(expected - ids)
  for cls in ("linen.ELU", "linen.AlphaDropout", "linen.BatchNormAct", "nnx.ELU",
              "nnx.AlphaDropout", "nnx.BatchNormAct"):
    assert f"jelu.{cls}.__call__" in ids
