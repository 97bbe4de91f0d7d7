"""The fused norm and activation: jelu.norm_act and the linen modules around it."""

# flax types `Module.apply` as output-or-(output, state) and `init`'s variables as a mapping;
# these tests index and call what they know they hold.
# pyright: reportAttributeAccessIssue=false, reportIndexIssue=false, reportArgumentType=false
# pyright: reportCallIssue=false

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

import jelu
from jelu import linen as jnn
from jelu import nnx as jnnx

import reference as ref

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(8, 5, 5, 16)) * 2 + 0.3).astype(np.float32)
G = RNG.normal(size=X.shape).astype(np.float32)
FUNCTIONS = {"elu": jelu.elu, "selu": lambda x, a: jelu.selu(x), "celu": jelu.celu}
ALPHA = {"elu": 1.3, "selu": 1.0, "celu": 0.7}

# (flax's norm, the fused one) with the same fields.
PAIRS = {
    "batch": (lambda: nn.BatchNorm(use_running_average=False),
              lambda **kw: jnn.BatchNormAct(use_running_average=False, **kw)),
    "layer": (lambda: nn.LayerNorm(), lambda **kw: jnn.LayerNormAct(**kw)),
    "group": (lambda: nn.GroupNorm(num_groups=4),
              lambda **kw: jnn.GroupNormAct(num_groups=4, **kw)),
    "group_size": (lambda: nn.GroupNorm(num_groups=None, group_size=2),
                   lambda **kw: jnn.GroupNormAct(num_groups=None, group_size=2, **kw)),
}


def _perturbed(variables):
  """Params and stats away from their initial 1s and 0s, the same for both modules."""
  rng = np.random.default_rng(1)
  return jax.tree.map(lambda v: v + jnp.asarray(0.3 * rng.normal(size=v.shape), v.dtype),
                      variables)


def _apply(module, variables, x):
  if "batch_stats" in variables:
    return module.apply(variables, x, mutable=["batch_stats"])
  return module.apply(variables, x), {}


@pytest.mark.parametrize("norm", sorted(PAIRS))
@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_equals_flax_norm_then_jelu_activation(norm, kind):
  theirs, ours = PAIRS[norm][0](), PAIRS[norm][1](activation=kind, alpha=ALPHA[kind])
  variables = _perturbed(theirs.init(jax.random.key(0), X))
  # The same variable tree as flax's, so flax's weights load.
  assert jax.tree.structure(ours.init(jax.random.key(0), X)) == jax.tree.structure(variables)
  normed, their_stats = _apply(theirs, variables, X)
  y, our_stats = _apply(ours, variables, X)
  np.testing.assert_allclose(y, FUNCTIONS[kind](normed, ALPHA[kind]), rtol=1e-6, atol=1e-6)
  for a, b in zip(jax.tree.leaves(their_stats), jax.tree.leaves(our_stats), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

  def loss(fn):
    return lambda v, x: jnp.sum(fn(v, x) * G)

  theirs_grads = jax.grad(loss(lambda v, x: FUNCTIONS[kind](_apply(theirs, v, x)[0],
                                                            ALPHA[kind])), (0, 1))(variables, X)
  our_grads = jax.grad(loss(lambda v, x: _apply(ours, v, x)[0]), (0, 1))(variables, X)
  for a, b in zip(jax.tree.leaves(theirs_grads), jax.tree.leaves(our_grads), strict=True):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * float(np.max(np.abs(a)) + 1e-30))


@pytest.mark.parametrize("residual", ["output", "input"])
@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
@pytest.mark.parametrize("scale, shift", [(1.0, 0.0), (0.5, -1.0), (2.0, 0.5), (0.1, -2.0)])
def test_gradients_within_1e4_of_float64_for_real_networks_data(residual, kind, scale, shift):
  # Scales and biases of trained norms; float32 in, float32 out.
  s = (scale * RNG.uniform(0.5, 1.5, size=(1, 1, 1, 16))).astype(np.float32)
  b = (shift + 0.3 * RNG.normal(size=(1, 1, 1, 16))).astype(np.float32)
  axes = (0, 1, 2)
  y, dx, ds, db = ref.norm_act(X, s, b, G, axes, 1e-5, kind, ALPHA[kind])

  def f(x, s, b):
    out = jelu.norm_act(x, s, b, axes=axes, activation=kind, alpha=ALPHA[kind],
                        residual=residual)[0]
    return jnp.sum(out * G), out

  (got_dx, got_ds, got_db), out = jax.grad(f, (0, 1, 2), has_aux=True)(X, s, b)
  np.testing.assert_allclose(out, y, rtol=2e-6, atol=2e-6)
  for got, want in ((got_ds, ds), (got_db, db)):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.max(np.abs(want)))
  # dx where the negative branch's argument is above -8 (its slope above 3e-4); deeper,
  # the kept float32 output tells z to about 2**-24 / slope, and dx to 1e-2.
  saturation = ALPHA[kind] * ref.SELU_SCALE if kind == "selu" else ALPHA[kind]
  deep = y / saturation < -1 + np.exp(-8.0) if residual == "output" else np.zeros(y.shape, bool)
  big = np.max(np.abs(dx))
  np.testing.assert_allclose(got_dx[~deep], dx[~deep], rtol=0, atol=1e-4 * big)
  np.testing.assert_allclose(got_dx[deep], dx[deep], rtol=0, atol=1e-2 * big)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("residual", ["output", "input"])
@pytest.mark.parametrize("scale, shift", [(1.0, -30.0), (0.0, 0.5), (0.0, -30.0), (1e-30, -2.0)])
def test_saturated_outputs_and_a_zero_scale_give_finite_gradients(dtype, residual, scale, shift):
  # Every output at -alpha (z far below 0), or no information about x in the output at all.
  s, b = np.full((16,), scale, np.float32), np.full((16,), shift, np.float32)
  x = jnp.asarray(X, dtype)

  def f(x, s, b):
    return jnp.sum(jelu.norm_act(x, s, b, axes=(0, 1, 2), residual=residual,
                                 dtype=dtype)[0].astype(jnp.float32) * G)

  grads = jax.grad(f, (0, 1, 2))(x, s, b)
  for grad in grads:
    assert np.all(np.isfinite(np.asarray(grad, np.float32)))
  _, dx, _, db = ref.norm_act(np.asarray(x, np.float64), s.reshape(1, 1, 1, -1),
                              b.reshape(1, 1, 1, -1), G, (0, 1, 2), 1e-5, "elu")
  # dx and the bias's gradient need no inversion where the scale is 0, and are tiny but
  # right where everything saturates: within what the output's rounding allows (the slope
  # y + alpha to an ulp of alpha), summed over a channel's 200 values for the bias.
  eps = float(jnp.finfo(dtype).eps)
  np.testing.assert_allclose(np.asarray(grads[2], np.float64), db.ravel(), rtol=0,
                             atol=eps * np.abs(G).sum((0, 1, 2)).max())
  np.testing.assert_allclose(np.asarray(grads[0], np.float64), dx, rtol=0,
                             atol=4 * eps * np.abs(G).max())


def test_nan_input_propagates():
  x = X.copy()
  x[0, 0, 0, 3] = np.nan
  y, mean, _ = jelu.norm_act(x, axes=(0, 1, 2))
  assert np.all(np.isnan(y[..., 3])) and np.all(np.isfinite(np.delete(y, 3, axis=-1)))
  assert np.isnan(mean[..., 3]).all()


def test_eval_mode_is_the_norm_with_running_averages_then_the_activation():
  theirs = nn.BatchNorm(use_running_average=True)
  ours = jnn.BatchNormAct(use_running_average=True, activation="celu", alpha=0.7)
  variables = _perturbed(theirs.init(jax.random.key(0), X))
  variables["batch_stats"]["var"] = jnp.abs(variables["batch_stats"]["var"])
  np.testing.assert_allclose(ours.apply(variables, X),
                             jelu.celu(theirs.apply(variables, X), 0.7), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_bfloat16_output_within_an_ulp_of_flax_then_jelu(kind):
  x = jnp.asarray(X, jnp.bfloat16)
  theirs = nn.BatchNorm(use_running_average=False, dtype=jnp.bfloat16)
  ours = jnn.BatchNormAct(use_running_average=False, dtype=jnp.bfloat16, activation=kind,
                          alpha=ALPHA[kind])
  variables = theirs.init(jax.random.key(0), x)
  y = ours.apply(variables, x, mutable=["batch_stats"])[0]
  assert y.dtype == jnp.bfloat16
  ones = np.ones((1, 1, 1, 16))
  want = ref.norm_act(x, ones, 0 * ones, G, (0, 1, 2), 1e-5, kind, ALPHA[kind])[0]
  assert np.max(ref.ulps(y, want, jnp.bfloat16)) <= 1.0


@pytest.mark.parametrize("fast", [True, False])
def test_use_fast_variance_false_takes_the_two_pass_variance(fast):
  # Data whose mean is large against its spread: E[x^2] - E[x]^2 cancels in float32, the
  # two-pass E[(x - E[x])^2] does not; the fused module follows flax's choice either way.
  x = X * 0.01 + 30
  theirs = nn.BatchNorm(use_running_average=False, use_fast_variance=fast)
  ours = jnn.BatchNormAct(use_running_average=False, use_fast_variance=fast)
  variables = theirs.init(jax.random.key(0), x)
  y = ours.apply(variables, x, mutable=["batch_stats"])[0]
  want = jelu.elu(theirs.apply(variables, x, mutable=["batch_stats"])[0])
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
  if not fast:
    ones = np.ones((1, 1, 1, 16))
    exact = ref.norm_act(x, ones, 0 * ones, G, (0, 1, 2), 1e-5, "elu")[0]
    np.testing.assert_allclose(y, exact, rtol=1e-3, atol=1e-3)


class _ConvStack(nn.Module):
  norm: str
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    for channels in (64, 64, 128, 128):
      x = nn.Conv(channels, (3, 3), dtype=self.dtype)(x)
      if self.norm == "fused":
        x = jnn.BatchNormAct(use_running_average=False, residual="output", dtype=self.dtype)(x)
      else:
        x = nn.BatchNorm(use_running_average=False, dtype=self.dtype)(x)
    return jnp.mean(x.astype(jnp.float32) ** 2)


def _step_temp_bytes(norm, dtype):
  model, x = _ConvStack(norm, dtype), jnp.ones((8, 32, 32, 3), dtype)
  variables = model.init(jax.random.key(0), x)

  def loss(params):
    return model.apply({**variables, "params": params}, x, mutable=["batch_stats"])[0]

  analysis = jax.jit(jax.grad(loss)).lower(variables["params"]).compile().memory_analysis()
  assert analysis is not None
  return analysis.temp_size_in_bytes


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_conv_then_fused_norm_needs_less_than_the_norm_alone(dtype):
  # With residual="output" the block keeps only what the next convolution keeps anyway, so a
  # Conv -> BatchNorm -> ELU stack needs less than the stack with the norm and no activation.
  # jax 0.9's XLA:CPU keeps more at this size: 1.14x (flax's norm and jax.nn.elu 1.29x; at the
  # benchmark's size 1.00x; docs/norm-act.md).
  limit = 1.0 if jax.__version_info__ >= (0, 10) else 1.15
  fused, norm_alone = _step_temp_bytes("fused", dtype), _step_temp_bytes("norm", dtype)
  assert fused < limit * norm_alone, (fused, norm_alone)


def test_jit_vmap_and_checkpoint_give_the_same_values_and_gradients():
  def f(x):
    return jnp.sum(jelu.norm_act(x, axes=(0, 1))[0] * G[0])

  grad = jax.grad(f)(X[0])
  np.testing.assert_allclose(jax.jit(jax.grad(f))(X[0]), grad, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(jax.grad(jax.checkpoint(f))(X[0]), grad, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(jax.vmap(jax.grad(f))(X)[0], grad, rtol=1e-6, atol=1e-7)


def test_axis_name_averages_statistics_across_devices():
  # A batch split over four devices with axis_name gives the whole batch's statistics.
  mesh = Mesh(np.array(jax.devices("cpu")[:4]), ("batch",),
              axis_types=(jax.sharding.AxisType.Auto,))
  s = jnp.asarray(RNG.uniform(0.5, 1.5, size=(16,)), jnp.float32)

  def f(x, s):
    return jelu.norm_act(x, s, axes=(0, 1, 2), axis_name="batch")[0]

  sharded = jax.jit(jax.shard_map(f, mesh=mesh, in_specs=(P("batch"), P()),
                                  out_specs=P("batch")))
  with jax.default_device(jax.devices("cpu")[0]):
    whole = jelu.norm_act(X, s, axes=(0, 1, 2))[0]
    np.testing.assert_allclose(sharded(X, s), whole, rtol=1e-5, atol=1e-6)
    grad_sharded = jax.jit(jax.grad(lambda x, s: jnp.sum(sharded(x, s) * G)))(X, s)
    grad_whole = jax.grad(lambda x, s: jnp.sum(jelu.norm_act(x, s, axes=(0, 1, 2))[0] * G))(X, s)
    np.testing.assert_allclose(grad_sharded, grad_whole, rtol=1e-4, atol=1e-5)


def test_groups_normalise_each_group_of_channels():
  # groups=4 on 16 channels: each group of 4 channels has its own statistics, as a group norm
  # computed on the channel axis split into [4, 4] (plain jnp, differentiated by jax).
  def reference(x):
    split = x.reshape(*x.shape[:-1], 4, 4)
    mean = split.mean((1, 2, 4), keepdims=True)
    var = ((split - mean) ** 2).mean((1, 2, 4), keepdims=True)
    z = ((split - mean) / jnp.sqrt(var + 1e-5)).reshape(x.shape)
    return jnp.where(z > 0, z, jnp.expm1(jnp.minimum(z, 0)))

  with jax.enable_x64(True):
    want = np.asarray(reference(jnp.asarray(X, jnp.float64)))
  got = jelu.norm_act(X, axes=(1, 2, 3), groups=4)[0]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  grad = jax.grad(lambda x: jnp.sum(jelu.norm_act(x, axes=(1, 2, 3), groups=4)[0] * G))(X)
  want_grad = jax.grad(lambda x: jnp.sum(reference(x) * G))(X)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-5)
  # The statistics in x's layout: each channel holds its group's.
  mean = jelu.norm_act(X, axes=(1, 2, 3), groups=4)[1]
  group_means = X.astype(np.float64).reshape(8, 5, 5, 4, 4).mean((1, 2, 4))
  assert mean.shape == (8, 1, 1, 16)
  np.testing.assert_allclose(mean.reshape(8, 4, 4), np.repeat(group_means[..., None], 4, -1),
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, error, message", [
    (lambda: jelu.norm_act(X, axes=0, activation="relu"), ValueError, "activation must be"),
    (lambda: jelu.norm_act(X, axes=0, residual="both"), ValueError, "residual must be"),
    (lambda: jelu.norm_act(X, axes=0, alpha=-1.0), ValueError, "alpha must be"),
    (lambda: jelu.norm_act(X, np.ones(3), axes=0), ValueError, "does not broadcast"),
    (lambda: jelu.norm_act(np.ones(3, np.int32), axes=0), TypeError, "floating-point"),
    (lambda: jelu.norm_act(X, axes=(1, 2), groups=4), ValueError, "needs the last axis"),
    (lambda: jelu.norm_act(X, axes=(1, 2, 3), groups=5), ValueError, "a multiple of 5"),
    (lambda: jnn.GroupNormAct(num_groups=5).init(jax.random.key(0), X), ValueError,
     "do not split"),
    (lambda: jnn.GroupNormAct(num_groups=4, group_size=4).init(jax.random.key(0), X),
     ValueError, "exactly one"),
    (lambda: jnn.BatchNormAct(activation="gelu"), ValueError, "activation must be"),
    (lambda: jnnx.GroupNormAct(16, num_groups=4, axis_index_groups=[[0]], rngs=nnx.Rngs(0)),
     ValueError, "axis_index_groups is not supported"),
])
def test_bad_arguments_raise_clear_errors(make, error, message):
  with pytest.raises(error, match=message):
    make()


NNX_PAIRS = {
    "batch": (lambda: nnx.BatchNorm(16, use_running_average=False, rngs=nnx.Rngs(0)),
              lambda: jnnx.BatchNormAct(16, use_running_average=False, activation="selu",
                                        rngs=nnx.Rngs(0))),
    "layer": (lambda: nnx.LayerNorm(16, use_fast_variance=False, rngs=nnx.Rngs(0)),
              lambda: jnnx.LayerNormAct(16, use_fast_variance=False, activation="selu",
                                        rngs=nnx.Rngs(0))),
    "group": (lambda: nnx.GroupNorm(16, num_groups=4, rngs=nnx.Rngs(0)),
              lambda: jnnx.GroupNormAct(16, num_groups=4, activation="selu", rngs=nnx.Rngs(0))),
}


@pytest.mark.parametrize("norm", sorted(NNX_PAIRS))
def test_nnx_modules_equal_flax_norm_then_selu_and_share_its_state(norm):
  theirs, ours = NNX_PAIRS[norm][0](), NNX_PAIRS[norm][1]()
  assert jax.tree.structure(nnx.state(ours)) == jax.tree.structure(nnx.state(theirs))
  nnx.update(theirs, _perturbed(nnx.state(theirs)))
  nnx.update(ours, nnx.state(theirs))
  np.testing.assert_allclose(ours(X), jelu.selu(theirs(X)), rtol=1e-6, atol=1e-6)
  for a, b in zip(jax.tree.leaves(nnx.state(theirs)), jax.tree.leaves(nnx.state(ours)),
                  strict=True):
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)  # the running averages updated
  grads = nnx.grad(lambda m: jnp.sum(jelu.selu(m(X)) * G))(theirs)
  our_grads = nnx.grad(lambda m: jnp.sum(m(X) * G))(ours)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(our_grads), strict=True):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * float(np.max(np.abs(a))))


def test_nnx_batch_norm_act_eval_uses_the_running_averages():
  theirs, ours = NNX_PAIRS["batch"][0](), NNX_PAIRS["batch"][1]()
  for module in (theirs, ours):
    module(X)  # one update of the averages
    module.eval()
  np.testing.assert_allclose(ours(X), jelu.selu(theirs(X)), rtol=1e-6, atol=1e-6)


def test_reverse_over_reverse_matches_the_plain_formula_in_float64(x64):
  # The backward rule is jax code, so a gradient of the gradient goes through it (a
  # Hessian-vector product by reverse over reverse; forward mode is not available).
  x = X[:4, :3, :3].astype(np.float64)
  s = RNG.uniform(0.5, 1.5, size=(16,))
  v = RNG.normal(size=x.shape)
  g = G[:4, :3, :3].astype(np.float64)

  def plain(x):
    mean = x.mean((0, 1, 2), keepdims=True)
    var = ((x - mean) ** 2).mean((0, 1, 2), keepdims=True)
    z = (x - mean) / jnp.sqrt(var + 1e-5) * s
    return jnp.sum(jnp.where(z > 0, z, jnp.expm1(jnp.minimum(z, 0))) * g)

  def fused(x):
    return jnp.sum(jelu.norm_act(x, s, axes=(0, 1, 2))[0] * g)

  def hvp(f):
    return jax.grad(lambda x: jnp.sum(jax.grad(f)(x) * v))(x)

  np.testing.assert_allclose(hvp(fused), hvp(plain), rtol=1e-6, atol=1e-9)


def test_exported_step_gives_the_same_values_and_gradients():
  def step(x):
    return jax.value_and_grad(lambda x: jnp.sum(jelu.norm_act(x, axes=(0, 1, 2))[0] * G))(x)

  exported = jax.export.export(jax.jit(step))(jax.ShapeDtypeStruct(X.shape, X.dtype))
  for got, want in zip(exported.call(X), step(X), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
