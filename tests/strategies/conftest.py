"""Helpers shared by the case tests (``test_cases`` and ``test_generated_cases``)."""

from __future__ import annotations

import dataclasses

import numpy as np


def arrays_of(case) -> list[np.ndarray]:
    """Every array a case holds, in field order (tuples of arrays flattened)."""
    out = []
    for f in dataclasses.fields(case):
        v = getattr(case, f.name)
        if isinstance(v, np.ndarray):
            out.append(v)
        elif isinstance(v, tuple) and v and isinstance(v[0], np.ndarray):
            out.extend(v)
    return out
