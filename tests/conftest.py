"""Fixtures, and the host CPU device count, set before any test initialises a backend.

Shared helpers live in tests/helpers.py.
"""

import jax
import pytest

from helpers import ACTIVATIONS, CASES

# tests/test_sharding.py runs on a 4 x 2 mesh of host CPU devices. The count
# can only be set before JAX creates its CPU client, so it is set here, which
# pytest imports before any test module. Everything else runs on device 0.
SHARDING_DEVICES = 8
jax.config.update("jax_num_cpu_devices", SHARDING_DEVICES)


@pytest.fixture(params=sorted(ACTIVATIONS))
def name(request):
  return request.param


@pytest.fixture(params=CASES, ids=[f"{n}-{a}" for n, a in CASES])
def case(request):
  return request.param


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield
