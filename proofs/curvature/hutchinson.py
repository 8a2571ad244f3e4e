r"""Hutchinson's estimator, checked by exact expectations (C8, docs/claims.md#c8).

A Monte Carlo mean cannot separate a variance from one off by a few percent, so the expectations are exact:

* Rademacher probes: the average over all :math:`2^n` sign vectors (n ≤ 6), in float64; the re-check redoes it
  in exact rationals (:class:`fractions.Fraction`: every float is a dyadic rational);
* Gaussian probes: the tensor product of the 3-point Gauss–Hermite rule (nodes 0, ±√3, weights 2/3, 1/6, 1/6),
  exact for polynomials of degree ≤ 5 in each coordinate — :math:`(z^\top Az)^2` has degree 4 — in float64; the
  re-check redoes it in 50-digit mpmath.

The claimed closed forms (:math:`\operatorname{tr}A`, :math:`2\|A\|_F^2`, :math:`2(\|A\|_F^2 - \sum_i A_{ii}^2)`)
are the SymPy derivations of :mod:`.symbolic` lambdified by ``verify.to_torch`` in (T, F, D).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from fractions import Fraction

import mpmath
import numpy as np
import torch

from proofs.curvature import FAMILY
from proofs.curvature import symbolic as sym
from proofs.curvature.cases import SymmetricCase
from verify import CaseResult, CheckContext, Tolerance, compare_close, to_torch

__all__ = ["closed_form", "exact_moments", "exact_moments_high_precision", "moment_check", "moment_recheck"]

#: (T, F, D) ↦ the claimed moment
Formula = Callable[[float, float, float], float]


@functools.lru_cache(maxsize=8)
def closed_form(distribution: str, moment: str, claimed_variance: str = "") -> Formula:
    """The derived mean or variance, lambdified (``claimed_variance="gaussian"``: the mistaken variance 2F)."""
    _, _, mean, variance = sym.hutchinson_moments(distribution, claimed_variance)
    fn = to_torch(mean if moment == "mean" else variance, sym.MOMENT_ARGS, name=f"hutchinson_{moment}")

    def evaluate(T: float, F: float, D: float) -> float:
        args = [torch.tensor(v, dtype=torch.float64) for v in (T, F, D)]
        return float(fn(*args))

    return evaluate


def _points(n: int, distribution: str) -> tuple[np.ndarray, np.ndarray]:
    """(points (P, n), weights (P,)) of the exact rule for E over n independent probe entries."""
    if distribution == "rademacher":
        pts = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
        return pts, np.full(len(pts), 1.0 / len(pts))
    nodes, weights = (-math.sqrt(3.0), 0.0, math.sqrt(3.0)), (1 / 6, 2 / 3, 1 / 6)
    idx = np.array(list(itertools.product(range(3), repeat=n)))
    return np.array(nodes)[idx], np.prod(np.array(weights)[idx], axis=1)


def exact_moments(A: np.ndarray, distribution: str) -> tuple[float, float]:
    """(E[zᵀAz], Var[zᵀAz]) by the exact rule, in float64."""
    pts, w = _points(A.shape[0], distribution)
    q = np.einsum("pi,ij,pj->p", pts, A, pts)
    mean = math.fsum(w * q)
    return mean, math.fsum(w * q * q) - mean * mean


def exact_moments_high_precision(A: np.ndarray, distribution: str) -> tuple[float, float]:
    """The same in exact rationals (Rademacher) or 50-digit mpmath (Gaussian: the nodes are ±√3)."""
    n = A.shape[0]
    if distribution == "rademacher":
        a = [[Fraction(float(v)) for v in row] for row in A]
        qs = [sum(a[i][j] * s[i] * s[j] for i in range(n) for j in range(n))
              for s in itertools.product((-1, 1), repeat=n)]
        mean = sum(qs, Fraction(0)) / len(qs)
        return float(mean), float(sum((q * q for q in qs), Fraction(0)) / len(qs) - mean * mean)
    with mpmath.workdps(50):
        a = [[mpmath.mpf(float(v)) for v in row] for row in A]
        r3 = mpmath.sqrt(3)
        rule = ((-r3, mpmath.mpf(1) / 6), (mpmath.mpf(0), mpmath.mpf(2) / 3), (r3, mpmath.mpf(1) / 6))
        mean = second = mpmath.mpf(0)
        for combo in itertools.product(rule, repeat=n):
            z = [c[0] for c in combo]
            w = mpmath.fprod(c[1] for c in combo)
            q = mpmath.fsum(a[i][j] * z[i] * z[j] for i in range(n) for j in range(n))
            mean += w * q
            second += w * q * q
        return float(mean), float(second - mean * mean)


def _invariants(A: np.ndarray) -> tuple[float, float, float]:
    """(tr A, ‖A‖_F², Σ A_ii²), summed exactly rounded."""
    return (math.fsum(np.diag(A)), math.fsum((A * A).ravel()), math.fsum(np.diag(A) ** 2))


def _judge(case: SymmetricCase, formula: Formula, moment: str, distribution: str,
           moments: Callable[[np.ndarray, str], tuple[float, float]], tol: Tolerance, route: str) -> CaseResult:
    A = case.A
    T, F, D = _invariants(A)
    claimed = formula(T, F, D)
    exact = moments(A, distribution)[0 if moment == "mean" else 1]
    size = float(np.abs(A).sum())
    scale = size if moment == "mean" else size * size  # the largest term of the sums that cancel
    comparison = compare_close(claimed, exact, scale, tol)
    return CaseResult(comparison, case.tags, {"n": A.shape[0], "claimed": claimed, "exact": exact,
                                              "trace": T, "frobenius_sq": F, "diagonal_sq": D, "route": route},
                      tol.describe())


def moment_check(case: SymmetricCase, ctx: CheckContext, *, distribution: str, moment: str,
                 formula: Formula | None = None, claimed_variance: str = "") -> CaseResult:
    """The claimed moment against the exact expectation (every sign vector / the Gauss–Hermite grid), float64."""
    formula = formula or closed_form(distribution, moment, claimed_variance)
    route = "all 2^n sign vectors" if distribution == "rademacher" else "3-point Gauss–Hermite tensor grid"
    return _judge(case, formula, moment, distribution, exact_moments, Tolerance("float64", FAMILY.depth),
                  f"{route}, float64")


def moment_recheck(case: SymmetricCase, ctx: CheckContext, *, distribution: str, moment: str,
                   formula: Formula | None = None, claimed_variance: str = "") -> CaseResult:
    """The same expectation in exact rationals (Rademacher) or 50-digit mpmath (Gaussian)."""
    formula = formula or closed_form(distribution, moment, claimed_variance)
    route = "exact rationals" if distribution == "rademacher" else "mpmath, 50 digits"
    return _judge(case, formula, moment, distribution, exact_moments_high_precision,
                  Tolerance("float64", FAMILY.depth), route)
