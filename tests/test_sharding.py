"""jelu on a 4 x 2 device mesh: shardings kept, no collectives, shard_map, a sharded train step.

The checks run in a subprocess (tests/sharded_checks.py) with 8 host CPU devices;
each test here asserts one part of what it reports.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def report():
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  out = subprocess.run([sys.executable, str(HERE / "sharded_checks.py")], env=env, check=True,
                       capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def test_eight_devices_were_used(report):
  assert report["devices"] == 8


@pytest.mark.parametrize("name", ["elu", "selu", "celu"])
def test_output_and_gradient_keep_the_input_sharding(report, name):
  assert report[name]["out_spec"] == "P('data', 'model')"
  assert report[name]["grad_spec"] == "P('data', 'model')"


@pytest.mark.parametrize("name", ["elu", "selu", "celu"])
def test_compiled_forward_and_value_and_grad_have_no_gather_or_permute(report, name):
  assert report[name]["fwd_collectives"] == []
  assert report[name]["value_and_grad_collectives"] == []


@pytest.mark.parametrize("name", ["elu", "selu", "celu"])
def test_sharded_results_equal_unsharded(report, name):
  assert report[name]["value_diff"] == 0.0
  assert report[name]["grad_diff"] == 0.0


def test_per_channel_alpha_sharded_over_model(report):
  r = report["per_channel"]
  assert r["out_spec"] == "P('data', 'model')"
  assert r["value_diff"] == 0.0
  assert r["alpha_grad_diff"] < 1e-5


def test_shard_map_and_grad_through_it(report):
  r = report["shard_map"]
  assert r["value_diff"] == 0.0
  assert r["grad_diff"] < 1e-6


def test_shard_map_grad_of_a_replicated_alpha_sums_over_shards(report):
  assert report["shard_map"]["replicated_alpha_grad_diff"] < 1e-5


def test_data_and_model_parallel_linen_train_step(report):
  r = report["train_step"]
  assert r["loss"] > 0 and r["loss_diff"] < 1e-5
  assert r["param_diff"] < 1e-5
  assert r["kernel_spec"] == "P(None, 'model')"
