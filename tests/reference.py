"""Independent float64 numpy references: values and analytic derivatives."""

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _f64(x):
  return np.asarray(x, dtype=np.float64)


def elu(x, alpha=1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu(x):
  return SELU_SCALE * elu(x, SELU_ALPHA)


def celu(x, alpha=1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


# First derivatives in x; at exactly 0 the negative branch's (jax.nn, torch).
def d_elu(x, alpha=1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def d_selu(x):
  return SELU_SCALE * d_elu(x, SELU_ALPHA)


def d_celu(x, alpha=1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / alpha))


# Second derivatives in x (x != 0).
def dd_elu(x, alpha=1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 0.0, alpha * np.exp(np.minimum(x, 0)))


def dd_celu(x, alpha=1.0):
  x, alpha = _f64(x), _f64(alpha)
  return np.where(x > 0, 0.0, np.exp(np.minimum(x, 0) / alpha) / alpha)


# Derivatives in alpha.
def da_elu(x, alpha=1.0):
  x = _f64(x)
  return np.where(x > 0, 0.0, np.expm1(np.minimum(x, 0))) + 0 * _f64(alpha)


def da_celu(x, alpha=1.0):
  x, alpha = _f64(x), _f64(alpha)
  t = np.minimum(x, 0) / alpha
  with np.errstate(invalid="ignore"):
    t_exp_t = np.where(np.isinf(t), 0.0, t * np.exp(t))  # its limit at -inf
  return np.where(x > 0, 0.0, np.expm1(t) - t_exp_t)


FUNCTIONS = {
    # name: (reference value, reference derivative, has alpha)
    "elu": (elu, d_elu, True),
    "selu": (lambda x, alpha=None: selu(x), lambda x, alpha=None: d_selu(x), False),
    "celu": (celu, d_celu, True),
}
