"""The README's python snippets run, in order, in one namespace."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run():
  blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
  assert len(blocks) >= 4
  namespace: dict = {}
  with contextlib.redirect_stdout(io.StringIO()) as out:
    for block in blocks:
      exec(compile(block, str(README), "exec"), namespace)
  assert "output of" in out.getvalue()  # print_saved_residuals reported jelu's output
  assert namespace["y"].shape == namespace["x"].shape
