"""Independent float64 numpy references (values, analytic derivatives) and the ulp measure.

The references use numpy alone; jax.numpy appears only in `accuracy_grid` and
`ulps`, for 16-bit dtypes numpy lacks.
"""

import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _f64(x):
  return np.asarray(x, dtype=np.float64)


def elu(x, alpha: ArrayLike = 1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu(x):
  return SELU_SCALE * elu(x, SELU_ALPHA)


def celu(x, alpha: ArrayLike = 1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


# First derivatives in x; at exactly 0 the negative branch's (jax.nn, torch).
def d_elu(x, alpha: ArrayLike = 1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def d_selu(x):
  return SELU_SCALE * d_elu(x, SELU_ALPHA)


def d_celu(x, alpha: ArrayLike = 1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / alpha))


# Second derivatives in x (x != 0).
def dd_elu(x, alpha: ArrayLike = 1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 0.0, alpha * np.exp(np.minimum(x, 0)))


def dd_celu(x, alpha: ArrayLike = 1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 0.0, np.exp(np.minimum(x, 0) / alpha) / alpha)


# Derivatives in alpha.
def da_elu(x, alpha: ArrayLike = 1.0):
  x = _f64(x)
  return np.where(x > 0, 0.0, np.expm1(np.minimum(x, 0))) + 0 * _f64(alpha)


def da_celu(x, alpha: ArrayLike = 1.0):
  x, alpha = _f64(x), _f64(alpha)
  t = np.minimum(x, 0) / alpha
  with np.errstate(invalid="ignore"):
    t_exp_t = np.where(np.isinf(t), 0.0, t * np.exp(t))  # its limit at -inf
  return np.where(x > 0, 0.0, np.expm1(t) - t_exp_t)


def _ignore_alpha(f):
  return lambda x, alpha=None: f(x)


# By name, each called as (x, alpha); SELU's alpha is fixed, so it is ignored.
VALUES = {"elu": elu, "selu": _ignore_alpha(selu), "celu": celu}
DERIVS = {"elu": d_elu, "selu": _ignore_alpha(d_selu), "celu": d_celu}


# The accuracy measurement shared by tests/test_accuracy.py and
# benchmarks/accuracy.py: magnitudes log-spaced from 1e-10 to 30 and linear
# from 0 to 30, negated (the exponential branch), plus the positive side.
_NEG = -np.concatenate([np.logspace(-10, np.log10(30), 100_000), np.linspace(0, 30, 100_000)])
_POS = np.linspace(1e-6, 30, 2_000)


def accuracy_grid(dtype):
  return jnp.asarray(np.unique(np.concatenate([_NEG, _POS]).astype(dtype)), dtype)


def ulps(actual, expected, dtype):
  """|actual - expected| in units of the spacing of `dtype` at the rounded expected value."""
  # The spacing in numpy (ml_dtypes for the 16-bit types), which keeps subnormals.
  rounded = np.abs(np.asarray(jnp.asarray(expected, jnp.float32).astype(dtype)))
  bits = rounded.view(np.uint16 if rounded.itemsize == 2 else np.uint32)
  spacing = (bits + 1).view(rounded.dtype).astype(np.float64) - rounded.astype(np.float64)
  err = np.abs(np.asarray(actual, np.float64) - expected)
  nonzero = expected != 0
  return np.where(nonzero, err / np.where(nonzero, spacing, 1), err)


def norm_act(x, scale, bias, g, axes, epsilon, kind, alpha=1.0):
  """A norm over ``axes``, ``scale * x_hat + bias``, then ELU, SELU or CELU, in float64.

  Returns ``(y, dx, dscale, dbias)`` for the output cotangent ``g``: the norm's
  analytic backward pass, with the activation's derivative.
  """
  x, scale, bias, g = _f64(x), _f64(scale), _f64(bias), _f64(g)
  mean = x.mean(axes, keepdims=True)
  var = ((x - mean) ** 2).mean(axes, keepdims=True)
  rstd = 1 / np.sqrt(var + epsilon)
  x_hat = (x - mean) * rstd
  z = x_hat * scale + bias
  if kind == "selu":
    y, slope = selu(z), d_selu(z)
  elif kind == "celu":
    y, slope = celu(z, alpha), d_celu(z, alpha)
  else:
    y, slope = elu(z, alpha), d_elu(z, alpha)
  dz = g * slope
  dx_hat = dz * scale
  dx = rstd * (dx_hat - dx_hat.mean(axes, keepdims=True)
               - x_hat * (dx_hat * x_hat).mean(axes, keepdims=True))

  def reduced(t, like):
    axes = tuple(i for i in range(t.ndim) if np.shape(like)[i] == 1 and t.shape[i] != 1)
    return t.sum(axes, keepdims=True).reshape(np.shape(like))

  return y, dx, reduced(dz * x_hat, scale), reduced(dz, bias)
