"""ELU, SELU and CELU: one kernel with an output-saving custom VJP.

All three are one function of a saturation magnitude ``a`` and a static
``kind``, whose positive-branch slope is ``scale`` (1, or SELU's lambda)::

    f(x) = scale * x                               for x > 0
    f(x) = a * expm1(x / (a if kind == "celu" else 1))   for x <= 0

ELU and CELU take ``a = alpha``; SELU takes ``a = lambda * alpha``, the product
taken once in float64, so SELU's saturation value is rounded once, not twice.

The derivative is a function of the output alone (``scale`` where ``y > 0``,
``y + a`` for ELU/SELU and ``y / a + 1`` for CELU elsewhere), so the backward
pass keeps only ``y``. In a Dense -> activation -> Dense stack the next layer
keeps ``y`` for its own weight gradient anyway, so the activation adds nothing.
After a normalisation ``x`` is the free one (XLA recomputes it from what the
norm keeps): ``residual="input"`` keeps ``x`` and recomputes the slope from it.
A differentiated alpha needs ``x`` anyway, so then the slope comes from ``x``
too. The kernel reads top to bottom: the forward (`_unrounded`, its float32
arithmetic in `jelu._expm1`), the slopes, the alpha gradient, then the
custom VJP. What it does for one XLA backend only (a conditional, a rounding,
a division by an opaque 1) is in `jelu._xla`, each with what it buys.

Costs and limits of reading the branch and the slope off ``y``:

- For very negative x the slope ``y + a`` has an absolute error of up to about
  half an ulp of ``a`` (jax.nn has the same through expm1's derivative).
- The sign of y tells the branch only for ELU's alpha >= 0 (CELU's: any alpha).
  A python or numpy alpha is checked on the host before tracing; a jax array
  (traced, or on a device, where reading it would be a synchronisation) is
  not. For such an ELU alpha < 0 the values are jax.nn's and the gradient is
  NaN where only y is kept, jax.nn's where x is (a differentiated alpha,
  ``residual="input"``). For a CELU alpha <= 0, outside CELU's definition, all
  values and gradients are NaN.
- A custom_vjp function has no forward mode: ``jax.jvp`` and ``jax.jacfwd``
  raise JAX's TypeError. ``jax.jacrev`` and ``jax.hessian`` (forward over
  reverse, which works because ``_elu_family_fwd`` computes the primal with
  plain jnp) do not.
"""

from __future__ import annotations

import functools
import math
from typing import cast

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from jelu._checks import (
    RESIDUALS,
    check_alpha_shape,
    check_alpha_value,
    check_array,
    check_real_dtype,
    check_residual,
    is_concrete_array,
)
from jelu._compat import convert_element_type
from jelu._expm1 import elu_family_float32, expm1_neg
from jelu._xla import (
    fused_sum_summand,
    hidden_from_simplifier,
    libdevice_expm1_on_gpu,
    materialized,
    narrowed,
    written_once_on_cpu,
)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# The positive branch's slope of each kind.
_SCALE = {"elu": 1.0, "selu": SELU_SCALE, "celu": 1.0}
# The saturation magnitude ``a`` of each kind at its default alpha.
_DEFAULT_SATURATION = {"elu": 1.0, "selu": SELU_SCALE * SELU_ALPHA, "celu": 1.0}

_SIXTEEN_BIT = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
  # 16-bit inputs are computed in float32 and rounded once at the end.
  return jnp.dtype(jnp.float32) if dtype in _SIXTEEN_BIT else dtype


def _saturation(a: jax.Array, kind: str, compute_dtype: jnp.dtype) -> jax.Array:
  """Alpha in the compute dtype; NaN where CELU's alpha is not > 0.

  CELU divides by alpha and is not defined for alpha <= 0. A python or numpy
  alpha is checked before tracing; a jax array (traced, or on a device) is not
  read, so for such an alpha CELU's values and gradients are NaN (see
  `_celu_domain`) rather than numbers. The `where` costs one compare per alpha
  entry.
  """
  a = hidden_from_simplifier(jnp.asarray(a, compute_dtype))
  return jnp.where(a > 0, a, jnp.nan) if kind == "celu" else a


def _celu_domain(x: jax.Array, a: jax.Array, kind: str) -> jax.Array:
  """CELU's ``x``, NaN wherever `_saturation` made alpha NaN; others' ``x`` as it is.

  A select, not arithmetic, so ``x`` keeps its bits (-0.0, and subnormals, which
  XLA:CPU flushes to zero in arithmetic).
  """
  return jnp.where(a == a, x, a) if kind == "celu" else x


def _primal(x: jax.Array, a: jax.Array, kind: str, output: bool = False) -> jax.Array:
  """The activation in ``x``'s dtype; ``output``: the one the backward pass keeps."""
  return narrowed(_unrounded(x, a, kind), x.dtype, output=output)


def _unrounded(x: jax.Array, a: jax.Array, kind: str,
               out_dtype: jnp.dtype | None = None) -> jax.Array:
  """`_primal` in the compute dtype, before its one rounding to ``out_dtype`` (``x``'s)."""
  compute_dtype = _compute_dtype(x.dtype)
  aw = _saturation(a, kind, compute_dtype)
  xw = _celu_domain(x.astype(compute_dtype), aw, kind)
  if compute_dtype == jnp.float32:
    # A jax array in, a jax array out (the kernel also takes numpy arrays, for the tests).
    return cast(jax.Array, elu_family_float32(xw, aw, kind, _SCALE[kind],
                                              for_16_bits=(out_dtype or x.dtype) in _SIXTEEN_BIT))
  # float64, where XLA's expm1 is accurate; one select, as elu_family_float32.
  positive = xw > 0
  t = jnp.where(positive, 0.0, xw)
  negative = aw * jnp.expm1(t / aw if kind == "celu" else t)
  return jnp.where(positive, _SCALE[kind] * xw if kind == "selu" else xw, negative)


def _slope_from_input(x: jax.Array, a: jax.Array, kind: str) -> jax.Array:
  # exp of x itself, not of min(x, 0): the forward pass computes the latter,
  # and XLA would merge the two and keep the forward's array for this pass.
  # Where x > 0 the exponential may overflow; `where` discards it there.
  return jnp.where(x > 0, _SCALE[kind], jnp.exp(x / a) if kind == "celu" else a * jnp.exp(x))


def _negative_slope(y: jax.Array, a: jax.Array, kind: str) -> jax.Array:
  """The negative branch's slope from its output ``y``: ``y + a``, CELU's ``y / a + 1``."""
  return y / a + 1 if kind == "celu" else y + a


def _slope_from_output(y: jax.Array, a: jax.Array, kind: str) -> jax.Array:
  if kind == "celu":
    # y > 0 exactly where x > 0 for any alpha; a NaN alpha (not > 0) makes it NaN.
    return jnp.where(y > 0, 1.0, _negative_slope(y, a, kind))
  # For alpha < 0 (traced, so unchecked) a positive y does not tell the
  # branch: both give y > 0. The slope is NaN there rather than a wrong number.
  pos = jnp.where(a >= 0, _SCALE[kind], jnp.nan)
  return jnp.where(y > 0, pos, _negative_slope(y, a, kind))


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


def _alpha_gradient(x: jax.Array, a: jax.Array, aw: jax.Array, g: jax.Array,
                    kind: str) -> jax.Array:
  """d(loss)/d(alpha) from the kept ``x`` (in the compute dtype), summed to alpha's shape.

  dy/da is ``expm1(t)`` for ELU and SELU, ``expm1(t) - t exp(t)`` for CELU, with ``t``
  the negative branch's argument. With residual="input" it is computed whether or not
  alpha is differentiated; unused, XLA drops it.
  """
  t = jnp.minimum(x, 0)
  if kind == "celu":
    # Clipping keeps t * (e + 1) at 0, not inf * 0, when x = -inf.
    t = jnp.maximum(t / aw, jnp.finfo(x.dtype).min)
  e = libdevice_expm1_on_gpu(t, expm1_neg)
  dyda = e - t * (e + 1) if kind == "celu" else e
  da = _unbroadcast(fused_sum_summand(t, g * dyda), jnp.shape(a))
  da = _sum_over_extra_manual_axes(da, like=a)
  # In alpha's dtype and weak type, as jax.nn's alpha gradient.
  return convert_element_type(da, jnp.result_type(a), weak_type=jax.typeof(a).weak_type)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _elu_family(x: jax.Array, a: jax.Array, kind: str, residual: str) -> jax.Array:
  """ELU (``kind="elu"``), SELU or CELU of ``x`` with saturation ``a``; see the module docs."""
  return _primal(x, a, kind)


def _elu_family_fwd(x, a, kind, residual):
  # The residual pytree must not change with `perturbed` (jax's cached fwd trace
  # reuses the last one's tree), so which arrays it holds travels in their
  # static sizes: an empty array stands in for the one not kept.
  empty = jnp.empty((0,), x.value.dtype)
  if residual == "input" or a.perturbed:
    # The backward pass recomputes the slope from x. A differentiated alpha
    # (a learnable one) needs x anyway: its gradient cannot be recovered from
    # y where y saturates. Keeping y as well would cost a second array.
    y = _primal(x.value, a.value, kind)
    return y, (empty, a.value, x.value)
  y = materialized(functools.partial(_primal, a=a.value, kind=kind, output=True), x.value,
                   a.value)
  return y, (y, a.value, empty)


def _elu_family_bwd(kind, residual, res, g):
  # A constant alpha (SELU's, the default) may be a python-scalar literal here,
  # so its shape and dtype are read with jnp.shape and jnp.result_type.
  y, a, x = res
  if isinstance(g, SymbolicZero):
    return None, None
  compute_dtype = _compute_dtype(g.dtype)
  aw, gw = _saturation(a, kind, compute_dtype), g.astype(compute_dtype)
  if x.size:
    # residual="input", or alpha differentiated (or x empty, where da is 0 anyway).
    xw = _celu_domain(x.astype(compute_dtype), aw, kind)
    dx, da = gw * _slope_from_input(xw, aw, kind), _alpha_gradient(xw, a, aw, gw, kind)
  else:
    dx, da = gw * _slope_from_output(y.astype(compute_dtype), aw, kind), None
  return written_once_on_cpu(narrowed(dx, g.dtype)), da


_elu_family.defvjp(_elu_family_fwd, _elu_family_bwd, symbolic_zeros=True)


def _jax_nn_result_type(kind: str, x: jax.Array, a: jax.Array) -> jax.ShapeDtypeStruct:
  """The dtype and weak type of jax.nn's activation for these arguments, read at trace time.

  Being a drop-in means promoting as jax.nn does (an integer x to a weakly
  typed float, a python-number alpha leaving x's dtype alone, an array alpha
  promoting with it), so its type is taken from jax.nn's own function.
  """
  jax_nn = {"elu": jax.nn.elu, "selu": lambda x, a: jax.nn.selu(x), "celu": jax.nn.celu}[kind]
  return jax.eval_shape(jax_nn, x, a)


def _jitted(kind: str, residual: str):
  """The jitted activation of one kind, named for it in jaxprs, HLO and profiles.

  One jitted function per (kind, residual) rather than a static argument: an
  eager call then dispatches with nothing to hash but its arrays. The default
  alpha (and SELU's) is a constant of the program, not an argument: a python
  number argument is copied to the device on every eager call.
  """
  def activation(x: ArrayLike, a: ArrayLike | None = None) -> jax.Array:
    x = jnp.asarray(x)
    a = jnp.asarray(_DEFAULT_SATURATION[kind] if a is None else a)
    check_real_dtype(kind, x.dtype)
    check_real_dtype(kind, a.dtype, arg="alpha")
    check_alpha_shape(kind, x.shape, a.shape)
    out_type = _jax_nn_result_type(kind, x, a)
    if not jnp.issubdtype(a.dtype, jnp.floating):
      a = a.astype(out_type.dtype)
    y: jax.Array = _elu_family(x.astype(out_type.dtype), a, kind, residual)
    # jax.nn's weak type, which a public conversion would make strong.
    return convert_element_type(y, out_type.dtype, weak_type=out_type.weak_type)

  activation.__name__ = activation.__qualname__ = kind
  return jax.jit(activation)


_JITTED = {(kind, residual): _jitted(kind, residual)
           for kind in _SCALE for residual in RESIDUALS}

_SCALAR_ON_DEVICE: dict[tuple, jax.Array] = {}


def _on_device(alpha: ArrayLike, x: ArrayLike) -> ArrayLike:
  """A python-number alpha as a cached device array, when ``x`` is a concrete array.

  An eager call would otherwise copy the number to the device on every call,
  which costs as much as the rest of the call. The cached array is weakly
  typed and uncommitted, as jit makes the number itself, so values, dtypes
  and placement are the same. Under a trace the number is passed as it is.
  """
  if type(alpha) is not float and type(alpha) is not int or not is_concrete_array(x):
    return alpha
  # The sign keeps -0.0 apart from 0.0, which compare (and hash) equal.
  key = (type(alpha), alpha, math.copysign(1.0, alpha), jax.config.read("jax_enable_x64"))
  cached = _SCALAR_ON_DEVICE.get(key)
  if cached is None:
    if len(_SCALAR_ON_DEVICE) >= 64:
      _SCALAR_ON_DEVICE.clear()
    # A concrete x can be closed over by a function being traced: the array
    # must still be a value, never a tracer of that trace.
    with jax.ensure_compile_time_eval():
      cached = _SCALAR_ON_DEVICE[key] = jnp.asarray(alpha)
  return cached


def _call(kind: str, residual: str, x: ArrayLike, alpha: ArrayLike | None) -> jax.Array:
  """Calls the jitted activation; alpha None or the default 1.0 is the program's constant."""
  check_residual(kind, residual)
  jitted = _JITTED[kind, residual]
  if alpha is None or type(alpha) is float and alpha == 1.0:
    return jitted(x)
  return jitted(x, _on_device(alpha, x))


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
    x: input array (float, integer or bool; integers are promoted, and the
      result weakly typed, as jax.nn does), or anything with ``__jax_array__``
      (an ``nnx.Variable``).
    alpha: scalar or array broadcastable to ``x`` (per-channel), finite and
      ``>= 0``. Differentiable. A python or numpy alpha is checked on the host;
      a jax array is not read (that would wait for the device on every call):
      if it is negative, the values are jax.nn's and the gradient in ``x`` is
      NaN where only the output is kept (jax.nn's where ``x`` is: with alpha
      differentiated or ``residual="input"``), never a wrong number.
    residual: what the backward pass keeps: ``"output"`` (default), free where a
      Dense or Conv layer follows, or ``"input"``, free after a norm and exact
      where the output saturates (docs: Choosing the residual).

  Returns:
    An array of ``x``'s shape.

  Raises:
    TypeError: for complex or non-array ``x`` or ``alpha``.
    ValueError: for a python or numpy ``alpha`` that is negative, NaN or
      infinite, an ``alpha`` that does not broadcast to ``x``, or an unknown
      ``residual``.

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
  x = check_array("elu", x)
  alpha = check_alpha_value("elu", alpha, celu=False)
  return _call("elu", residual, x, alpha)


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
    x: input array (float, integer or bool), or anything with ``__jax_array__``.
    residual: what the backward pass keeps: ``"output"`` (default), free where a
      Dense or Conv layer follows, or ``"input"``, free after a norm and exact
      where the output saturates (docs: Choosing the residual).

  Returns:
    An array of ``x``'s shape.

  Raises:
    TypeError: for complex or non-array ``x``.
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
  x = check_array("selu", x)
  return _call("selu", residual, x, None)


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
    x: input array (float, integer or bool), or anything with ``__jax_array__``.
    alpha: scalar or array broadcastable to ``x``, finite and ``> 0``.
      Differentiable. A python or numpy alpha is checked on the host; a jax
      array is not read (that would wait for the device on every call): where
      it is not ``> 0``, outside CELU's definition, values and gradients are
      NaN.
    residual: what the backward pass keeps: ``"output"`` (default), free where a
      Dense or Conv layer follows, or ``"input"``, free after a norm and exact
      where the output saturates (docs: Choosing the residual).

  Returns:
    An array of ``x``'s shape.

  Raises:
    TypeError: for complex or non-array ``x`` or ``alpha``.
    ValueError: for a python or numpy ``alpha`` that is zero, negative, NaN
      or infinite, an ``alpha`` that does not broadcast to ``x``, or an unknown
      ``residual``.

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
  x = check_array("celu", x)
  alpha = check_alpha_value("celu", alpha, celu=True)
  return _call("celu", residual, x, alpha)
