"""A learnable alpha follows flax.linen.PReLU: param in param_dtype, cast to the input's dtype."""

# flax types `Module.apply` as output-or-(output, state) and `init`'s variables as a mapping,
# and nnx's ELU.alpha as a float or a Param; these tests index and call what they know they hold.
# pyright: reportAttributeAccessIssue=false, reportIndexIssue=false, reportArgumentType=false

import importlib.util
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jelu import linen as jnn
from jelu import nnx as jnnx

import reference as ref
from helpers import JAX_RELEASE, fails_where

ROOT = pathlib.Path(__file__).resolve().parent.parent
X = np.linspace(-4, 3, 64, dtype=np.float32).reshape(16, 4)
ALPHA = 1.3


def linen_elu(x, per_channel=False):
  layer = jnn.ELU(ALPHA, learnable=True, per_channel=per_channel)
  variables = layer.init(jax.random.key(0), x)
  return layer.apply(variables, x), variables["params"]["alpha"]


def nnx_elu(x, per_channel=False):
  layer = jnnx.ELU(ALPHA, learnable=True, per_channel=per_channel,
                   features=x.shape[-1] if per_channel else None)
  return layer(x), layer.alpha[...]


APPLY = {"linen": linen_elu, "linen per channel": lambda x: linen_elu(x, True),
         "nnx": nnx_elu, "nnx per channel": lambda x: nnx_elu(x, True)}


@pytest.fixture(params=sorted(APPLY))
def apply(request):
  return APPLY[request.param]


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_output_keeps_the_input_dtype_and_alpha_stays_float32(apply, dtype):
  y, alpha = apply(jnp.asarray(X, dtype))
  assert y.dtype == dtype
  assert alpha.dtype == jnp.float32


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16_bit_values_are_the_reference_with_alpha_rounded_to_the_input_dtype(apply, dtype):
  x = jnp.asarray(X, dtype)
  y, _ = apply(x)
  alpha = np.float64(jnp.asarray(ALPHA, dtype))  # the cast alpha the layer computes with
  expected = ref.elu(np.asarray(x, np.float64), alpha)
  ulp = 2.0 ** -(jnp.finfo(dtype).nmant)
  np.testing.assert_allclose(np.asarray(y, np.float64), expected, rtol=ulp, atol=ulp * 1e-3)


def test_integer_input_is_promoted_to_float32_not_alpha_truncated(apply):
  x = jnp.asarray([[-3, -1, 0, 2]], jnp.int32)
  y, _ = apply(x)
  assert y.dtype == jnp.float32
  np.testing.assert_allclose(y, ref.elu(np.asarray(x), ALPHA), rtol=1e-6)


def test_linen_alpha_gradient_on_bfloat16_input_is_float32_and_analytic():
  x = jnp.asarray(X, jnp.bfloat16)
  layer = jnn.ELU(ALPHA, learnable=True)
  variables = layer.init(jax.random.key(0), x)
  g = jax.grad(lambda v: layer.apply(v, x).astype(jnp.float32).sum())(variables)
  g = g["params"]["alpha"]
  assert g.dtype == jnp.float32
  # The sum is taken in float32 and rounded to bfloat16 once, on the way back to the param.
  expected = ref.da_elu(np.asarray(x, np.float64)).sum()
  np.testing.assert_allclose(g, expected, rtol=2.0**-8)


def test_nnx_alpha_gradient_on_bfloat16_input_is_float32():
  layer = jnnx.ELU(ALPHA, learnable=True, per_channel=True, features=4)
  x = jnp.asarray(X, jnp.bfloat16)
  g = nnx.grad(lambda m: m(x).astype(jnp.float32).sum())(layer).alpha[...]
  assert g.dtype == jnp.float32 and g.shape == (4,)
  np.testing.assert_allclose(g, ref.da_elu(np.asarray(x, np.float64)).sum(axis=0),
                             rtol=2.0**-8)


@pytest.fixture(scope="module")
def bench():
  """benchmarks/mixed_precision.py as a module."""
  spec = importlib.util.spec_from_file_location(
      "mixed_precision", ROOT / "benchmarks" / "mixed_precision.py")
  assert spec is not None and spec.loader is not None
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # flax's dataclasses look their module up there
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def step_memory(bench, tmp_path_factory):
  """Temp bytes per activation from benchmarks/mixed_precision.py at a small size.

  XLA's memory analysis is exact at any size; 4 layers of width 128 keep it quick.
  """
  out = tmp_path_factory.mktemp("bench") / "m.json"
  rows = bench.main(["--batch", "64", "--width", "128", "--depth", "4", "--json", str(out)])
  assert json.loads(out.read_text()) == rows
  return {r["activation"]: r["temp_bytes"] for r in rows}


# XLA's buffer assignment changes between releases, so each step is compared with another
# measured in the same run.
@fails_where(JAX_RELEASE < (0, 10), "jax 0.9.0: the learnable ELU 0.312 MiB, scalar or per "
             "channel, the uncast float32 alpha 0.281 MiB (1.11x)")
def test_bfloat16_step_takes_no_more_memory_than_with_alpha_left_in_float32(step_memory):
  # Casting alpha keeps the step in bfloat16. With a learnable alpha the backward pass keeps
  # x and recomputes the slope from it (see jelu._activations._elu_family_fwd), so the uncast
  # float32 alpha, whose promotion makes the step float32, is the bound to stay under.
  assert (step_memory["jelu.linen.ELU(learnable=True)"]
          <= 1.1 * step_memory["jelu.elu, float32 alpha not cast"])
  assert (step_memory["jelu.linen.ELU(learnable=True, per_channel=True)"]
          <= 1.1 * step_memory["jelu.elu, float32 alpha not cast"])


@fails_where(jax.default_backend() == "gpu", "XLA:GPU (an H200, jax 0.11.2, and the described "
             "H100, 0.10.2): the learnable ELU 1,117,456 bytes against jax.nn's 1,114,896 at this "
             "size, where the matmuls split their contraction: the backward fusion that sums "
             "their float32 partial sums for x writes alpha's float32 summand, f32[64, 128], "
             "beside dx, with either expm1. At the benchmark's size 56.0 MiB against 78.5 "
             "(RESULTS.md, 'A learnable alpha in a bfloat16 step')")
def test_bfloat16_step_takes_no_more_memory_than_jax_nn(step_memory):
  # On XLA:CPU the alpha gradient's reduction fuses its whole chain
  # (jelu._xla.fused_sum_summand), so the step keeps no float32 array for it; jax.nn keeps x
  # and expm1(x) in bfloat16.
  assert (step_memory["jelu.linen.ELU(learnable=True)"]
          <= step_memory["jax.nn.elu, alpha cast to bf16"])
  assert (step_memory["jelu.linen.ELU(learnable=True, per_channel=True)"]
          <= step_memory["jax.nn.elu, per-channel alpha cast to bf16"])


def test_the_grouped_alpha_sum_is_the_sum_and_leaves_other_shapes_to_the_plain_one(bench):
  # The alternative RESULTS.md measures for a per-channel alpha on the GPU ("On the GPU"):
  # four partial sums of 4 rows each, then their sum; exact here (small integers).
  t = jnp.arange(48.0).reshape(16, 3)
  grouped = bench.grouped_sum(4)
  jaxpr = str(jax.make_jaxpr(grouped, static_argnums=1)(t, (3,)))
  assert "optimization_barrier" in jaxpr and "reshape" in jaxpr
  np.testing.assert_array_equal(jax.jit(lambda t: grouped(t, (3,)))(t),
                                np.arange(48.0).reshape(16, 3).sum(axis=0))
  # A scalar alpha's sum, a batch 4 does not divide, and one row per group: the plain sum.
  for shape, like in [((16, 3), ()), ((10, 3), (3,)), ((4, 3), (3,))]:
    u = jnp.ones(shape)
    assert "optimization_barrier" not in str(jax.make_jaxpr(grouped, static_argnums=1)(u, like))
    np.testing.assert_array_equal(grouped(u, like), jnp.sum(u, axis=0 if like else None))


def test_the_grouped_alpha_sum_needs_two_groups(bench, capsys):
  with pytest.raises(SystemExit):
    bench.main(["--alpha-sum-groups", "1"])
  assert "--alpha-sum-groups takes an integer K >= 2" in capsys.readouterr().err


def test_the_grouped_alpha_sum_reaches_jelus_steps_alone(bench, tmp_path, monkeypatch):
  # At batch 64 the per-channel alpha's summand, f32[64, 128], goes through the grouped sum;
  # jax.nn's steps need what they need without it.
  summed = []
  grouped_sum = bench.grouped_sum

  def recorded(groups):
    grouped = grouped_sum(groups)

    def unbroadcast(t, shape):
      summed.append((t.shape, shape))
      return grouped(t, shape)
    return unbroadcast

  monkeypatch.setattr(bench, "grouped_sum", recorded)

  def rows(*argv):
    out = tmp_path / "m.json"
    bench.main(["--batch", "64", "--width", "128", "--depth", "2", "--json", str(out), *argv])
    return {r["activation"]: r for r in json.loads(out.read_text())}

  plain = rows()
  assert not summed
  grouped = rows("--alpha-sum-groups", "4")
  assert ((64, 128), (128,)) in summed and ((64, 128), ()) in summed
  assert all(r["alpha_sum_groups"] == 4 for r in grouped.values())
  for name in bench.ACTIVATIONS:
    if name.startswith("jax.nn"):
      assert grouped[name]["temp_bytes"] == plain[name]["temp_bytes"]


def test_the_grouped_alpha_sum_adds_a_collective_where_the_batch_has_more_shards_than_groups(bench):
  # The split is of the batch axis: sharded 8 ways, 8 groups keep the one all-reduce of the
  # plain sum, 4 groups reduce their partial sums across devices as well; on a mesh of
  # Explicit axes that reshape is refused when traced.
  def all_reduces(f, types):
    mesh = jax.make_mesh((8,), ("batch",), axis_types=(types,), devices=jax.devices("cpu"))
    t = jax.device_put(np.ones((64, 16), np.float32), NamedSharding(mesh, P("batch", None)))
    hlo = jax.jit(lambda t: f(t, (16,))).lower(t).compile().as_text()
    assert hlo is not None
    return hlo.count(" all-reduce(")

  auto = jax.sharding.AxisType.Auto
  assert all_reduces(lambda t, shape: jnp.sum(t, axis=0), auto) == 1
  assert all_reduces(bench.grouped_sum(8), auto) == 1
  assert all_reduces(bench.grouped_sum(4), auto) == 2
  with pytest.raises(Exception, match="reshape"):
    all_reduces(bench.grouped_sum(4), jax.sharding.AxisType.Explicit)
