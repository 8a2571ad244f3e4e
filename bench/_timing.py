"""Timing shared by the benchmarks: the median of repeated calls after warm-up calls.

Imported as ``from _timing import median_seconds`` (the benchmarks run as scripts, so
``bench/`` is on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (``time.perf_counter``) after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
