"""ELU, SELU and CELU: one kernel with an output-saving custom VJP.

All three are the same function of a static positive-branch ``scale``, a
saturation magnitude ``a`` and a static flag ``celu``::

    f(x) = scale * x                       for x > 0
    f(x) = a * expm1(x / (a if celu else 1))   for x <= 0

ELU is ``(scale=1, a=alpha)``, CELU is ``(scale=1, a=alpha, celu)`` and SELU is
``(scale=lambda, a=lambda*alpha)`` with the product taken once in float64, so
SELU's saturation value is rounded once rather than twice.

The derivative is a function of the output alone (``scale`` where ``y > 0``,
``y + a`` for ELU/SELU and ``y / a + 1`` for CELU elsewhere), so the backward
pass keeps only ``y``. In a Dense -> activation -> Dense stack the next layer
keeps ``y`` for its own weight gradient anyway, so the activation adds nothing.
After a normalisation ``x`` is the free one (XLA recomputes it from what the
norm keeps): ``residual="input"`` keeps ``x`` and recomputes the slope from it.
A differentiated alpha needs ``x`` anyway, so then the slope comes from ``x``
too. On the CPU the primal is computed inside a conditional so that XLA keeps
``y`` once (`_materialized` says why).

Costs and limits of reading the branch and the slope off ``y``:

- For very negative x the slope ``y + a`` has an absolute error of up to about
  half an ulp of ``a`` (jax.nn has the same through expm1's derivative).
- ``a`` must be finite and >= 0 (> 0 for CELU) so that the sign of y tells the
  branch. A concrete alpha is checked before tracing; a traced one (under jit)
  cannot be and is used as given. Read off ``x`` (a differentiated alpha, or
  ``residual="input"``) the slope is right for any finite alpha.
- A custom_vjp function has no forward mode: ``jax.jvp`` and ``jax.jacfwd``
  raise JAX's TypeError. ``jax.jacrev`` and ``jax.hessian`` (forward over
  reverse, which works because ``_f_fwd`` computes the primal with plain jnp)
  do not.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jelu._checks import check_alpha, check_array, check_residual
from jelu._expm1 import expm1_neg, scaled_expm1_neg, scaled_linear

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SIXTEEN_BIT = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
  # 16-bit inputs are computed in float32 and rounded once at the end.
  return jnp.dtype(jnp.float32) if dtype in _SIXTEEN_BIT else dtype


def _opaque(a: jax.Array) -> jax.Array:
  """Hides alpha's value from XLA's simplifier.

  With a constant alpha (a python float under an outer jit) XLA rewrites
  x / alpha as x * (1 / alpha) and regroups the polynomial's constants, which
  changes the rounding: results would then depend on whether alpha was traced.
  Behind the barrier they are the same bits either way.
  """
  return jax.lax.optimization_barrier(a)


def _plain(x: jax.Array, a: jax.Array, scale: float, celu: bool) -> jax.Array:
  """The primal, written as one `where` so XLA keeps no extra buffers."""
  ct = _compute_dtype(x.dtype)
  xc, ac = x.astype(ct), _opaque(a.astype(ct))
  t = jnp.minimum(xc, 0)
  if celu:
    neg = scaled_expm1_neg(t, ac, divide=True)
  elif scale != 1.0:  # SELU: a is lambda * alpha, rounded; its rounding error is put back
    neg = scaled_expm1_neg(t, ac, a_exact=SELU_SCALE * SELU_ALPHA)
  else:
    neg = scaled_expm1_neg(t, ac)
  pos = xc if scale == 1.0 else scaled_linear(xc, scale)
  # At exactly 0, of either sign, the value is the negative branch's linear
  # term: 0 with x's sign, and the negative branch's derivative, so a second
  # derivative (jax.hessian differentiates this primal) takes that branch at 0,
  # as jax.nn's does and as the backward rule, which reads y, does for the first.
  zero = xc if celu else ac * xc
  return jnp.where(xc > 0, pos, jnp.where(xc < 0, neg, zero)).astype(x.dtype)


def _unbroadcast(t: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Sums `t` down to `shape`, undoing numpy broadcasting."""
  lead = t.ndim - len(shape)
  axes = tuple(range(lead)) + tuple(
      lead + i for i, n in enumerate(shape) if n == 1 and t.shape[lead + i] != 1)
  return jnp.sum(t, axis=axes).reshape(shape)


def _varying_axes(v: jax.Array) -> frozenset:
  t = jax.typeof(v)
  manual = getattr(t, "manual_axis_type", None)
  return manual.varying if manual is not None else getattr(t, "vma", frozenset())


def _sum_over_extra_manual_axes(t: jax.Array, like: jax.Array) -> jax.Array:
  """Inside shard_map, a replicated alpha used by every shard gets the sum of their grads."""
  extra = tuple(sorted(_varying_axes(t) - _varying_axes(like)))
  return jax.lax.psum(t, extra) if extra else t


def _materialized(x: jax.Array, a: jax.Array, scale: float, celu: bool) -> jax.Array:
  """The primal inside a conditional on the CPU, so that XLA keeps ``y`` itself.

  XLA:CPU duplicates a cheap elementwise producer into its consumers when all
  of them can fuse it. When ``y`` is reshaped on its way to the next layer (a
  Dense layer on a ``[batch, seq, features]`` input collapses it to 2-D for the
  matmul) every consumer of the final ``select`` can fuse, so XLA recomputes
  ``y`` in the backward fusions from ``x`` and ``exp(min(x, 0))`` and keeps
  those two arrays alive instead of ``y``: twice the memory, measured in
  benchmarks/RESULTS.md. A conditional's result cannot be fused into anything,
  so computed inside one, ``y`` is one buffer that the next layer and this
  backward pass share. Both branches are the same computation, so the value is
  the primal's bit for bit whichever runs; the predicate is read from alpha
  behind `_opaque`, so XLA cannot fold the conditional away. Only on the CPU:
  a GPU conditional copies its predicate to the host, a synchronisation per
  activation.
  """
  def primal(x):
    return _plain(x, a, scale, celu)

  def guarded(x):
    first = _opaque(a.reshape(-1)[0] if a.ndim else a)
    return jax.lax.cond(first == first, primal, lambda v: primal(v), x)

  if x.size == 0 or a.size == 0:
    return primal(x)
  return jax.lax.platform_dependent(x, cpu=guarded, default=primal)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _f(x: jax.Array, a: jax.Array, scale: float, celu: bool, residual: str) -> jax.Array:
  return _plain(x, a, scale, celu)


def _f_fwd(x, a, scale, celu, residual):
  # The residual pytree must not change with `perturbed` (jax's cached fwd trace
  # reuses the last one's tree), so which arrays it holds travels in their
  # static sizes: an empty array stands in for the one not kept.
  empty = jnp.empty((0,), x.value.dtype)
  if residual == "input" or a.perturbed:
    # The backward pass recomputes the slope from x. A differentiated alpha
    # (a learnable one) needs x anyway: its gradient cannot be recovered from
    # y where y saturates. Keeping y as well would cost a second array.
    y = _plain(x.value, a.value, scale, celu)
    return y, (empty, a.value, x.value)
  y = _materialized(x.value, a.value, scale, celu)
  return y, (y, a.value, empty)


def _slope_from_input(xc: jax.Array, ac: jax.Array, scale: float, celu: bool) -> jax.Array:
  # exp of x itself, not of min(x, 0): the forward pass computes the latter,
  # and XLA would merge the two and keep the forward's array for this pass.
  # Where x > 0 the exponential may overflow; `where` discards it there.
  return jnp.where(xc > 0, scale, jnp.exp(xc / ac) if celu else ac * jnp.exp(xc))


def _f_bwd(scale, celu, residual, res, g):
  y, a, x = res
  if isinstance(g, SymbolicZero):
    return None, None
  ct = _compute_dtype(g.dtype)
  ac, gc = _opaque(a.astype(ct)), g.astype(ct)
  if x.size:
    dx = gc * _slope_from_input(x.astype(ct), ac, scale, celu)
  else:
    yc = y.astype(ct)
    slope = yc / ac + 1 if celu else yc + ac
    dx = gc * jnp.where(yc > 0, scale, slope)
  da = None
  # An empty x means alpha is not differentiated (or x is empty, where the
  # alpha gradient is zero anyway). With residual="input" the alpha gradient
  # is computed whether or not alpha is differentiated; unused, XLA drops it.
  if x.size:
    t = jnp.minimum(x.astype(ct), 0)
    if celu:
      # Clipping keeps t * (e + 1) at 0, not inf * 0, when x = -inf.
      t = jnp.maximum(t / ac, jnp.finfo(ct).min)
      e = expm1_neg(t)
      dyda = e - t * (e + 1)
    else:
      dyda = expm1_neg(t)
    da = _sum_over_extra_manual_axes(_unbroadcast(gc * dyda, a.shape), like=a).astype(a.dtype)
  return dx.astype(g.dtype), da


_f.defvjp(_f_fwd, _f_bwd, symbolic_zeros=True)


@functools.partial(jax.jit, static_argnames=("scale", "celu", "residual"))
def _activation(x: ArrayLike, a: ArrayLike, scale: float, celu: bool, residual: str) -> jax.Array:
  x, a = jnp.asarray(x), jnp.asarray(a)
  dtype = jnp.result_type(x, a)
  if not jnp.issubdtype(dtype, jnp.floating):
    dtype = jnp.result_type(dtype, float)
  if not jnp.issubdtype(a.dtype, jnp.floating):
    a = a.astype(dtype)
  return _f(x.astype(dtype), a, scale, celu, residual)


def elu(x: ArrayLike, alpha: ArrayLike = 1.0, *, residual: str = "output") -> jax.Array:
  r"""Exponential linear unit, with a backward pass that keeps only its output.

  .. math::
    \mathrm{elu}(x) = \begin{cases}
      x, & x > 0\\
      \alpha \left(\exp(x) - 1\right), & x \le 0
    \end{cases}

  A drop-in for :func:`jax.nn.elu`: same values, output dtype and gradients
  (the gradient at exactly 0 is :math:`\alpha`, the negative branch's).

  Forward-mode differentiation is not available: ``jax.jvp`` and
  ``jax.jacfwd`` raise JAX's TypeError for a ``custom_vjp`` function. Use
  ``jax.jacrev``; ``jax.hessian`` and ``jax.grad(jax.grad(f))`` work.

  Args:
    x: input array (float, integer or bool; integers are promoted as jax.nn does).
    alpha: scalar or array broadcastable to ``x`` (per-channel), finite and
      ``>= 0``. Differentiable.
    residual: what the backward pass keeps: ``"output"`` (default), ``y``,
      which a following Dense or Conv layer keeps anyway; or ``"input"``,
      ``x``, from which the slope is recomputed with one ``exp``, free after
      a BatchNorm, LayerNorm or GroupNorm (XLA recomputes ``x`` from what the
      norm keeps). benchmarks/RESULTS.md measures both.

  Returns:
    An array of ``x``'s shape.

  Raises:
    TypeError: for complex or non-array ``x`` or ``alpha``.
    ValueError: for a concrete ``alpha`` that is negative, NaN or infinite, or
      that does not broadcast to ``x``, or an unknown ``residual``.

  Example:
    >>> import jax.numpy as jnp, jelu
    >>> jelu.elu(jnp.array([-1.0, 0.0, 2.0]))
    Array([-0.63212055,  0.        ,  2.        ], dtype=float32)

  References:
    Clevert, Unterthiner and Hochreiter, "Fast and Accurate Deep Network
    Learning by Exponential Linear Units (ELUs)", ICLR 2016.
    https://arxiv.org/abs/1511.07289

  See also:
    :func:`selu`, :func:`celu`
  """
  check_array("elu", x)
  check_alpha("elu", x, alpha, celu=False)
  check_residual("elu", residual)
  return _activation(x, alpha, scale=1.0, celu=False, residual=residual)


def selu(x: ArrayLike, *, residual: str = "output") -> jax.Array:
  r"""Scaled exponential linear unit, with a backward pass that keeps only its output.

  .. math::
    \mathrm{selu}(x) = \lambda \begin{cases}
      x, & x > 0\\
      \alpha e^x - \alpha, & x \le 0
    \end{cases}

  where :math:`\lambda = 1.0507009873554804934193349852946` and
  :math:`\alpha = 1.6732632423543772848170429916717`. The gradient at exactly
  0 is :math:`\lambda\alpha`, as in :func:`jax.nn.selu`.

  Forward-mode differentiation is not available: ``jax.jvp`` and
  ``jax.jacfwd`` raise JAX's TypeError for a ``custom_vjp`` function. Use
  ``jax.jacrev``; ``jax.hessian`` and ``jax.grad(jax.grad(f))`` work.

  Args:
    x: input array (float, integer or bool).
    residual: what the backward pass keeps: ``"output"`` (default), ``y``,
      which a following Dense or Conv layer keeps anyway; or ``"input"``,
      ``x``, from which the slope is recomputed with one ``exp``, free after
      a BatchNorm, LayerNorm or GroupNorm (XLA recomputes ``x`` from what the
      norm keeps). benchmarks/RESULTS.md measures both.

  Returns:
    An array of ``x``'s shape.

  Raises:
    ValueError: for an unknown ``residual``.

  Example:
    >>> import jax.numpy as jnp, jelu
    >>> jelu.selu(jnp.array([-1.0, 0.0, 2.0]))
    Array([-1.1113307,  0.       ,  2.101402 ], dtype=float32)

  References:
    Klambauer, Unterthiner, Mayr and Hochreiter, "Self-Normalizing Neural
    Networks", NeurIPS 2017. https://arxiv.org/abs/1706.02515

  See also:
    :func:`elu`, :func:`jelu.alpha_dropout`
  """
  check_array("selu", x)
  check_residual("selu", residual)
  return _activation(x, SELU_SCALE * SELU_ALPHA, scale=SELU_SCALE, celu=False, residual=residual)


def celu(x: ArrayLike, alpha: ArrayLike = 1.0, *, residual: str = "output") -> jax.Array:
  r"""Continuously-differentiable ELU, with a backward pass that keeps only its output.

  .. math::
    \mathrm{celu}(x) = \begin{cases}
      x, & x > 0\\
      \alpha \left(\exp(\frac{x}{\alpha}) - 1\right), & x \le 0
    \end{cases}

  Forward-mode differentiation is not available: ``jax.jvp`` and
  ``jax.jacfwd`` raise JAX's TypeError for a ``custom_vjp`` function. Use
  ``jax.jacrev``; ``jax.hessian`` and ``jax.grad(jax.grad(f))`` work.

  Args:
    x: input array (float, integer or bool).
    alpha: scalar or array broadcastable to ``x``, finite and ``> 0``.
      Differentiable.
    residual: what the backward pass keeps: ``"output"`` (default), ``y``,
      which a following Dense or Conv layer keeps anyway; or ``"input"``,
      ``x``, from which the slope is recomputed with one ``exp``, free after
      a BatchNorm, LayerNorm or GroupNorm (XLA recomputes ``x`` from what the
      norm keeps). benchmarks/RESULTS.md measures both.

  Returns:
    An array of ``x``'s shape.

  Raises:
    TypeError: for complex or non-array ``x`` or ``alpha``.
    ValueError: for a concrete ``alpha`` that is zero, negative, NaN or
      infinite, or that does not broadcast to ``x``, or an unknown ``residual``.

  Example:
    >>> import jax.numpy as jnp, jelu
    >>> jelu.celu(jnp.array([-1.0, 0.0, 2.0]), alpha=2.0)
    Array([-0.78693867,  0.        ,  2.        ], dtype=float32)

  References:
    Barron, "Continuously Differentiable Exponential Linear Units", 2017.
    https://arxiv.org/abs/1704.07483

  See also:
    :func:`elu`
  """
  check_array("celu", x)
  check_alpha("celu", x, alpha, celu=True)
  check_residual("celu", residual)
  return _activation(x, alpha, scale=1.0, celu=True, residual=residual)
