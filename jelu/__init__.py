"""jelu: ELU, SELU and CELU for JAX whose backward pass keeps only the output."""

from importlib.metadata import PackageNotFoundError, version

from jelu._activations import SELU_ALPHA as SELU_ALPHA
from jelu._activations import SELU_SCALE as SELU_SCALE
from jelu._activations import celu as celu
from jelu._activations import elu as elu
from jelu._activations import selu as selu
from jelu._dropout import alpha_dropout as alpha_dropout
from jelu._norm_act import norm_act as norm_act

try:
  __version__ = version("jelu")
except PackageNotFoundError:  # running from a source tree that is not installed
  __version__ = "0.0.0"

__all__ = ["SELU_ALPHA", "SELU_SCALE", "alpha_dropout", "celu", "elu", "norm_act", "selu"]
