"""Checks that a built wheel declares and carries the licence: python .ci/check_wheel.py WHEEL."""

import email.parser
import sys
import zipfile


def main(path: str) -> None:
  with zipfile.ZipFile(path) as wheel:
    names = wheel.namelist()
    metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    metadata = email.parser.Parser().parsestr(wheel.read(metadata_name).decode())
    licence = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    problems = []
    if metadata["License-Expression"] != "Apache-2.0":
      problems.append(f"License-Expression is {metadata['License-Expression']!r}")
    if metadata.get_all("License-File") != ["LICENSE"]:
      problems.append(f"License-File is {metadata.get_all('License-File')!r}")
    if not licence or b"Apache License" not in wheel.read(licence[0]):
      problems.append("the wheel does not carry LICENSE under .dist-info/licenses/")
    if "jelu/py.typed" not in names:
      problems.append("the wheel does not carry jelu/py.typed")
  if problems:
    sys.exit(f"{path}: " + "; ".join(problems))
  print(f"{path}: License-Expression: Apache-2.0, LICENSE and py.typed included")


if __name__ == "__main__":
  main(sys.argv[1])
