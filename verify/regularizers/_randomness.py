"""Where a regularizer's randomness comes from, when torch's seed does not fix it (the well-formed check).

The checker runs every call of a regularizer with torch's random state reset to one seed, so noise drawn
with torch is one fixed realization. Noise from another generator is not fixed by that seed: then
:func:`random_source` finds which global generator, once seeded, makes two calls agree.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from verify.claims.usercode import USER_FAILURES
from verify.regularizers.model import Regularizer

__all__ = ["random_source", "same_value"]

#: what :func:`random_source` says when seeding numpy's and Python's global generators does not help
NEITHER = "neither numpy's nor Python's global generator: e.g. np.random.default_rng() without a seed"


def same_value(a: object, b: object, u: float) -> bool:
    """Two values of R equal up to round-off ``u`` (a GPU's reductions need not repeat bit for bit)."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.numel() == b.numel() == 1):
        return False
    x, y = float(a.detach().reshape(())), float(b.detach().reshape(()))
    return abs(x - y) <= 1e3 * u * max(abs(x), abs(y))


def random_source(reg: Regularizer, theta: torch.Tensor, u: float) -> str:
    """``numpy.random``, ``Python's random module``, both, or :data:`NEITHER`: the global generator(s) that,
    seeded before each call, make two calls of ``reg`` at ``theta`` agree. Their states are restored."""
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        for name, seed_np, seed_py in (("numpy.random", True, False), ("Python's random module", False, True),
                                       ("numpy.random and Python's random module", True, True)):
            values = []
            for _ in range(2):
                if seed_np:
                    np.random.seed(0)
                if seed_py:
                    random.seed(0)
                values.append(reg.raw(theta))
            if same_value(*values, u):
                return name
    except USER_FAILURES:
        pass
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return NEITHER
