"""Compiled train-step memory in the shapes real models use, against jax.nn, relu and none.

Every network of benchmarks/architectures.py (a 2-D MLP, the same on a transformer's
``[batch, seq, features]`` input, pre-LayerNorm blocks, MLP-Mixer blocks, CNNs with and
without BatchNorm or GroupNorm), at a quarter of the benchmark's widths. XLA's memory
analysis of a compiled program is deterministic, so these are fair tests; timing lives in
benchmarks/.
"""

import functools
import importlib.util
import pathlib
import sys

import jax
import pytest

import jelu

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "architectures.py"
_SPEC = importlib.util.spec_from_file_location("architectures", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
architectures = importlib.util.module_from_spec(_SPEC)
sys.modules["architectures"] = architectures  # flax's dataclasses look their module up there
_SPEC.loader.exec_module(architectures)

# Memory analysis reads XLA's buffer assignment, which changes between XLA releases. The
# bounds below were measured with the jax/jaxlib of constraints.txt; other versions (make
# test-oldest) run the rest of the suite, not these bounds.
MEASURED_WITH = "0.10.2"
pytestmark = pytest.mark.skipif(
    jax.__version__ != MEASURED_WITH,
    reason=f"memory bounds measured with jax {MEASURED_WITH}, this is {jax.__version__}")

ARCHS = architectures.architectures(scale=4)

# Bytes that are not arrays of the network's size: the conditional's tuple and predicate
# (see jelu._activations._materialized) and alpha itself, a few hundred bytes per step.
SLACK = 4096

JELU = {"elu": jelu.elu, "selu": jelu.selu, "celu": jelu.celu}
JAX_NN = {"elu": jax.nn.elu, "selu": jax.nn.selu, "celu": jax.nn.celu}

# (architecture, the residual that suits it, the most temp memory allowed over the same
# network with no activation). After a Dense layer, saving the output is free (the next
# Dense keeps it); after a normalisation, the input is (XLA recomputes it from what the
# norm keeps). The bounds are the measured ratios rounded up; benchmarks/RESULTS.md
# accounts for each buffer above 1.
BOUNDS = [
    ("mlp-2d", "output", 1.01),
    ("mlp-3d", "output", 1.13),
    ("pre-ln", "output", 1.09),
    ("mixer", "output", 1.10),
    ("cnn", "output", 1.40),
    ("cnn-bn", "input", 1.01),
    ("cnn-gn", "input", 1.01),
]


@functools.cache
def temp(arch: str, act_name: str, residual: str = "") -> int:
  if act_name == "identity":
    act = lambda h: h  # noqa: E731
  elif act_name == "relu":
    act = jax.nn.relu
  elif residual:
    act = functools.partial(JELU[act_name], residual=residual)
  else:
    act = JAX_NN[act_name]
  return architectures.step_temp_bytes(ARCHS[arch], act)


@pytest.mark.parametrize("name", sorted(JELU))
@pytest.mark.parametrize("arch,residual,bound", BOUNDS, ids=[b[0] for b in BOUNDS])
def test_train_step_temp_memory_near_the_network_without_activation(arch, residual, bound,
                                                                    name):
  ours = temp(arch, name, residual)
  assert ours <= bound * temp(arch, "identity"), ours / temp(arch, "identity")
  assert ours <= temp(arch, "relu") + SLACK
  assert ours < temp(arch, name)  # jax.nn's


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_the_default_residual_never_needs_more_than_jax_nn(arch):
  assert temp(arch, "elu", "output") <= temp(arch, "elu") + SLACK


def test_a_transformer_shaped_input_keeps_half_of_what_jax_nn_keeps():
  # Before the primal was computed inside a conditional on the CPU, XLA recomputed y in
  # the backward fusions from x and exp(min(x, 0)) and this was 1.0.
  assert temp("mlp-3d", "elu", "output") < 0.55 * temp("mlp-3d", "elu")


def test_the_input_residual_matches_relu_after_a_norm_where_the_output_does_not():
  assert abs(temp("cnn-bn", "elu", "input") - temp("cnn-bn", "relu")) <= SLACK
  assert temp("cnn-bn", "elu", "output") > temp("cnn-bn", "relu") + SLACK
