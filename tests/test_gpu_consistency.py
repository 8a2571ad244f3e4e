"""The same cases on CPU and GPU give the same verdicts and agreeing numbers.

Skipped where there is no CUDA device (our CI machines have none); run it on a GPU machine with
``pytest tests/test_gpu_consistency.py``.
"""

from __future__ import annotations

import pytest
import torch

from verify import all_claims, run_claim

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]


@pytest.mark.parametrize("claim", all_claims(), ids=lambda c: c.id)
def test_cpu_and_gpu_agree(claim):
    cpu = run_claim(claim, examples=25, seed=3, device="cpu")
    gpu = run_claim(claim, examples=25, seed=3, device="cuda")
    assert cpu.verdict == gpu.verdict, (cpu.message, gpu.message)
    a, b = cpu.numeric or {}, gpu.numeric or {}
    for key in ("max_rel_err", "tightest_ratio", "min_slack"):
        if a.get(key) is not None and b.get(key) is not None:
            assert abs(a[key] - b[key]) <= 1e-9 + 1e-6 * abs(a[key]), key
