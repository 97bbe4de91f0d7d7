"""The README's python snippets run, in order, in one namespace, and show what they say."""

import contextlib
import io
import pathlib
import re

from helpers import JAX_RELEASE

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run():
  blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
  assert len(blocks) >= 2
  namespace: dict = {}
  with contextlib.redirect_stdout(io.StringIO()) as out:
    for block in blocks:
      exec(compile(block, str(README), "exec"), namespace)
  printed = out.getvalue()
  mib = dict(re.findall(r"^([\w.]+): ([\d.]+) MiB$", printed, flags=re.M))
  assert float(mib["jelu.elu"]) < float(mib["jax.nn.elu"]), printed
  assert "output of" in printed  # print_saved_residuals reported jelu's output
  assert namespace["y"].shape == namespace["x"].shape


def test_readme_quotes_its_examples_figures():
  # The opening paragraph's figures are what the example prints (XLA:CPU, float32), jax.nn's
  # for the jax release under test.
  text = " ".join(README.read_text().split())
  blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
  with contextlib.redirect_stdout(io.StringIO()) as out:
    exec(compile(blocks[0], str(README), "exec"), {})
  ours = re.search(r"needs ([\d.]+) MiB of temporary memory with `jelu.elu`", text)
  release = ".".join(map(str, JAX_RELEASE))
  theirs = [mib for mib, releases in re.findall(r"([\d.]+) MiB \(jax ([\d., ]+)\)", text)
            if any(r.startswith(release + ".") for r in releases.split(", "))]
  assert ours and len(theirs) == 1, f"the README quotes no figure for jax {release}"
  assert f"jelu.elu: {ours.group(1)} MiB" in out.getvalue()
  assert f"jax.nn.elu: {theirs[0]} MiB" in out.getvalue()
