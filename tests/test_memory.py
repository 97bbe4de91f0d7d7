"""Compiled train-step memory in the shapes real models use, against jax.nn, relu and none.

Every network of benchmarks/architectures.py (a 2-D MLP, the same on a transformer's
``[batch, seq, features]`` input, pre-LayerNorm blocks, MLP-Mixer blocks, CNNs with and
without BatchNorm or GroupNorm), at a quarter of the benchmark's widths, on XLA:CPU in float32
(tests/test_backends.py has bfloat16, the H100 and the TPU). XLA's memory analysis of a
compiled program is deterministic, so these are fair tests; timing lives in benchmarks/.

Each test is a relation that holds on every jax the suite runs on (0.9, 0.10.2 and the
newest), measured against jax.nn, ReLU and the network without activation in the same run,
never a byte count of one release.
"""

import functools

import jax
import pytest

import jelu

import helpers

architectures = helpers.load_benchmark("architectures")

ARCHS = architectures.architectures(scale=4)
# The CNNs ending in a classifier's head (mean pool and Dense) instead of the loss.
HEADED = architectures.architectures(scale=4, head=True)

# Bytes that are not arrays of the network's size (a conditional's predicate, alpha, XLA's
# alignment): far below the smallest activation here (256 KiB).
SLACK = 64 * 1024

JELU = {"elu": jelu.elu, "selu": jelu.selu, "celu": jelu.celu}
NAMES = tuple(sorted(JELU))
JAX_NN = {"elu": jax.nn.elu, "selu": jax.nn.selu, "celu": jax.nn.celu}

AFTER_DENSE = ("mlp-2d", "mlp-3d", "pre-ln", "mixer")
AFTER_A_NORM = ("cnn-bn", "cnn-gn")
# The residual docs/residual.md advises: the output after Dense and Conv layers (the next
# layer keeps it), the input after a norm (XLA recomputes it from what the norm keeps).
ADVISED = {**{arch: "output" for arch in AFTER_DENSE + ("cnn",)},
           **{arch: "input" for arch in AFTER_A_NORM}}
# The most temp memory the advised residual needs over the same network without activation
# (the measured ratios on jax 0.9.0, 0.10.2 and 0.12.1, rounded up; docs/memory.md accounts
# for what is above 1). ReLU's: mlp 1.67, pre-ln 1.43, mixer 1.36, cnn 1.39, norms 1.00.
BOUND = {"mlp-2d": 1.01, "mlp-3d": 1.13, "pre-ln": 1.11, "mixer": 1.12, "cnn": 1.40,
         "cnn-bn": 1.01, "cnn-gn": 1.01}


def cases(archs=tuple(ADVISED), names: tuple[str, ...] = NAMES) -> list:
  return [pytest.param(arch, name, id=f"{arch}-{name}") for arch in archs for name in names]


@functools.cache
def temp(arch: str, act_name: str, residual: str = "", head: bool = False) -> int:
  if act_name == "identity":
    act = lambda h: h  # noqa: E731
  elif act_name == "relu":
    act = jax.nn.relu
  elif residual:
    act = functools.partial(JELU[act_name], residual=residual)
  else:
    act = JAX_NN[act_name]
  return architectures.step_temp_bytes((HEADED if head else ARCHS)[arch], act)


@functools.cache
def activation_bytes(arch: str) -> int:
  """The bytes of every activation's output in one forward pass of ``arch``."""
  sizes = []

  def recording(h):
    sizes.append(h.size * h.dtype.itemsize)
    return h

  architectures.step_temp_bytes(ARCHS[arch], recording)
  return sum(sizes)


@pytest.mark.parametrize("arch,name", cases())
def test_the_advised_residual_needs_little_over_the_network_without_activation(arch, name):
  ours = temp(arch, name, ADVISED[arch])
  assert ours <= BOUND[arch] * temp(arch, "identity"), ours / temp(arch, "identity")


@pytest.mark.parametrize("arch,name", cases())
def test_the_advised_residual_needs_no_more_than_jax_nn_or_relu(arch, name):
  ours = temp(arch, name, ADVISED[arch])
  assert ours <= temp(arch, name) + SLACK  # jax.nn's
  assert ours <= temp(arch, "relu") + SLACK


@pytest.mark.parametrize("arch,name", cases(AFTER_DENSE))
def test_after_dense_layers_the_default_needs_less_than_relu(arch, name):
  # The next Dense layer keeps the output for its weight gradient: the activation keeps
  # nothing of its own, where ReLU (and jax.nn) keep a mask or the input.
  assert temp(arch, name, "output") + SLACK < temp(arch, "relu")


@pytest.mark.parametrize("arch,name", cases(AFTER_DENSE + ("cnn",)))
def test_where_a_layer_follows_the_default_needs_no_more_than_jax_nn(arch, name):
  assert temp(arch, name, "output") <= temp(arch, name) + SLACK


@pytest.mark.parametrize("head", [False, True], ids=["loss", "head"])
@pytest.mark.parametrize("arch,name", cases(AFTER_A_NORM))
def test_after_a_norm_the_default_keeps_at_most_its_outputs_over_jax_nn(arch, name, head):
  # XLA:CPU's convolution keeps a transposed copy of its input for the weight gradient, so
  # after a norm the kept output is one array beside it, where jax.nn (since jax 0.11) and
  # residual="input" recompute theirs from what the norm keeps (docs/residual.md).
  assert temp(arch, name, "output", head) <= temp(arch, name, head=head) + activation_bytes(arch)


@pytest.mark.parametrize("arch", AFTER_A_NORM)
@pytest.mark.parametrize("name", NAMES)
def test_before_a_classifiers_head_the_input_residual_after_a_norm_needs_relus_memory(
    arch, name):
  assert temp(arch, name, "input", head=True) <= temp(arch, "relu", head=True) + SLACK
