"""Instructions per element of jelu's GPU kernels against jax.nn's, compiled for an H100.

benchmarks/ptx.py compiles jelu's and jax.nn's forward and forward+backward for the H100
that benchmarks/h100_sxm.txtpb describes (jax's CUDA plugin, no GPU needed) and counts the
PTX instructions per element of the kernels that touch the arrays. An elementwise kernel
runs at a copy's speed only while that count is small, so jelu holds itself to jax.nn's
count, within 10 % and 2 instructions, in every cell: ELU at two alphas, SELU and CELU,
float32 and bfloat16.
"""

import pytest

import helpers

pytest.importorskip("jax_plugins.xla_cuda12", reason="make test-backends installs the plugin")

ptx = helpers.load_benchmark("ptx")


@pytest.fixture(scope="module")
def rows():
  return {(r["function"], r["mode"], r["dtype"], r["library"]): r for r in ptx.measure()}


@pytest.mark.parametrize("mode", ptx.MODES)
@pytest.mark.parametrize("function", list(ptx.FUNCTIONS))
@pytest.mark.parametrize("dtype", list(ptx.DTYPES))
def test_jelus_kernels_need_no_more_instructions_than_jax_nns(rows, function, mode, dtype):
  ours = rows[function, mode, dtype, "jelu"]
  theirs = rows[function, mode, dtype, "jax.nn"]
  assert 0 < ours["per_element"] <= 1.1 * theirs["per_element"] + 2, (ours, theirs)
  assert ours["array_kernels"] >= 1
