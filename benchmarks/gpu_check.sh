#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and jax's CUDA plugin, run from the repository's root:
# benchmarks/gpu.py (memory and step time of the backends networks on that GPU),
# benchmarks/mixed_precision.py (a learnable alpha's bfloat16 step) at the sizes of MP_SIZES,
# then the test suite on that GPU, each under its own time limit. Logs and JSON go to $OUT
# (default out/gpu). Uses the python3 found there (PYTHON to change it) with jelu from this
# checkout.
#
#     bash benchmarks/gpu_check.sh                 # BENCH_S=270 MP_S=120 TEST_S=180 seconds
#     BENCH_S=0 bash benchmarks/gpu_check.sh       # without gpu.py
#     MP_SIZES=1024x512x4 bash benchmarks/gpu_check.sh   # mixed_precision.py's --sizes
#                                                  # (default: RESULTS.md's seven sizes)
#
# Left out of the suite on the GPU: test_backends (compiles for an H100 and a TPU from the CPU
# with plugins pinned to jax 0.10.2), test_benchmarks and test_examples (CPU scripts, minutes),
# and test_memory (its figures are XLA:CPU's; gpu.py measures the GPU's). pytest-benchmark, where
# installed, is left out: it warns under xdist, and the suite turns warnings into errors.
set -u
out=${OUT:-out/gpu}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
py=${PYTHON:-python3}

{ nvidia-smi -L; $py --version
  $py -m pip list 2>/dev/null | grep -iE "^(jax|jaxlib|jax-cuda|flax|optax|numpy|ml.dtypes|hypothesis|pytest)"
} > "$out/versions.txt" 2>&1
cat "$out/versions.txt"

if [ "${BENCH_S:-270}" != 0 ]; then
  timeout "${BENCH_S:-270}" $py benchmarks/gpu.py --json "$out/gpu.json" > "$out/bench.log" 2>&1
  echo "gpu.py exit $?"; tail -n 30 "$out/bench.log"
fi

sizes=${MP_SIZES:-64x128x4,256x256x4,512x512x4,1024x512x4,1024x1024x4,4096x512x4,2048x1024x8}
timeout "${MP_S:-120}" $py benchmarks/mixed_precision.py --json "$out/mixed_precision.json" \
  --sizes "$sizes" > "$out/mixed_precision.log" 2>&1
echo "mixed_precision.py exit $?"; cat "$out/mixed_precision.log"

# The suite turns warnings into errors; a warning at import on this machine would fail every
# test, so it is recorded and the suite then runs with warnings shown instead.
warn=()
$py -W error -c "import jax, jax.numpy as jnp, flax.linen, jelu; jnp.ones(3).block_until_ready()" \
  > "$out/import_warnings.txt" 2>&1 || warn=(-W default)
timeout "${TEST_S:-180}" $py -m pytest -p no:cacheprovider -p no:benchmark -v -n "${WORKERS:-14}" ${warn[@]+"${warn[@]}"} \
  -rfE tests jelu --ignore=tests/test_backends.py --ignore=tests/test_benchmarks.py \
  --ignore=tests/test_examples.py --ignore=tests/test_memory.py > "$out/tests.log" 2>&1
status=$?
echo "pytest exit $status ${warn[*]-}"
grep -E "FAILED|ERROR" "$out/tests.log" | head -n 40
tail -n 3 "$out/tests.log"
exit $status
