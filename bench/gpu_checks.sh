#!/usr/bin/env bash
# The GPU checks in one run, for a machine with a CUDA device (our CI has none):
#   the tests marked `gpu` (CPU vs CUDA oracles, every claim's verdict on both, a user's model card),
#   then the 1M-parameter CNN card of bench/own_model.py on CUDA.
# Run from the repository root: `bash bench/gpu_checks.sh` (logs go to $OUT, default /tmp/verify-gpu).
# Wheels of missing pure-Python dependencies may be placed in .whl/ (installed to /tmp/site, no network).
set -uo pipefail
OUT=${OUT:-/tmp/verify-gpu}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch, sympy, hypothesis; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
'| sympy', sympy.__version__, '| hypothesis', hypothesis.__version__)"
timeout "${TEST_LIMIT:-300}" python3 -m pytest -p verify.pytest_plugin -m gpu -q -rs --durations=12 \
    --junitxml="$OUT/junit.xml" tests/numeric/test_gpu.py tests/regularizers/test_own_model.py \
    tests/test_gpu_consistency.py 2>&1 | tee "$OUT/pytest.log"
echo "pytest exit ${PIPESTATUS[0]}"
timeout "${BENCH_LIMIT:-150}" python3 bench/own_model.py --device cuda --threads 2 2>&1 | tee "$OUT/own_model.log"
echo "bench exit ${PIPESTATUS[0]}"
