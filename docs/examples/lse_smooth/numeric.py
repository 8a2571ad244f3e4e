"""Per-case checks: the formula (the closed form), the oracle (torch autograd) and the re-check (mpmath).

Each check takes one case (a logit vector from :func:`verify.logits`) and the run's
:class:`verify.CheckContext`, and returns a :class:`verify.CaseResult`.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np
import torch

from verify import CaseResult, CheckContext, Tolerance, as_tensor, compare_close, compare_leq, dense_hessian

from . import FAMILY

#: a curvature bound as a function of k (the claims pass theirs)
Bound = Callable[[int], float]


def closed_form_hessian(z: torch.Tensor) -> torch.Tensor:
    """The formula under test: diag(p) − p pᵀ with p = softmax(z)."""
    p = torch.softmax(z, dim=-1)
    return torch.diag(p) - torch.outer(p, p)


def autograd_hessian(z: torch.Tensor) -> torch.Tensor:
    """The oracle: torch's Hessian of torch.logsumexp (an independent route through autograd)."""
    return dense_hessian(lambda v: torch.logsumexp(v, dim=-1), z)


def hessian_check(case: np.ndarray, ctx: CheckContext) -> CaseResult:
    """The closed form equals the autograd Hessian, judged at the worst entry (entries are at most ¼)."""
    z = as_tensor(case, ctx.dtype, ctx.device)
    return _judge_entries(closed_form_hessian(z), autograd_hessian(z), case, Tolerance(ctx.dtype, FAMILY.depth))


def hessian_recheck(case: np.ndarray, ctx: CheckContext) -> CaseResult:
    """The closed form in mpmath at 50 digits against the float64 autograd Hessian."""
    exact = torch.tensor(_closed_form_mp(case), dtype=torch.float64)
    oracle = autograd_hessian(as_tensor(case, "float64", "cpu"))
    return _judge_entries(exact, oracle, case, Tolerance("float64", FAMILY.depth))


def _judge_entries(formula: torch.Tensor, oracle: torch.Tensor, case: np.ndarray, tol: Tolerance) -> CaseResult:
    err = (formula - oracle).abs()
    worst = int(err.argmax())
    # softmax computes z − max z first: round-off of eps·max|z| enters every p_i, though the entries are ≤ ¼
    noise = float(np.abs(case).max())
    comparison = compare_close(float(formula.flatten()[worst]), float(oracle.flatten()[worst]), 1.0, tol,
                               abs_err=float(err.max()), noise=noise)
    return CaseResult(comparison, _tags(case), {"k": len(case), "max_abs_logit": noise}, tol.describe())


def smoothness_check(case: np.ndarray, ctx: CheckContext, bound: Bound) -> CaseResult:
    """λ_max(∇² lse(z)) ≤ bound(k), with the eigenvalue of the autograd Hessian."""
    z = as_tensor(case, ctx.dtype, ctx.device)
    H = autograd_hessian(z)
    lam = float(torch.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    noise = float(np.abs(case).max())  # the autograd Hessian carries eps·max|z| too (see _judge_entries)
    return CaseResult(compare_leq(lam, bound(len(case)), 1.0, tol, noise=noise), _tags(case), {"lambda_max": lam},
                      tol.describe())


def smoothness_recheck(case: np.ndarray, ctx: CheckContext, bound: Bound) -> CaseResult:
    """The same inequality from the closed form in mpmath at 50 digits: another route, far finer arithmetic."""
    with mpmath.workdps(50):
        lam = float(max(mpmath.eigsy(mpmath.matrix(_closed_form_mp(case)))[0]))
    return CaseResult(compare_leq(lam, bound(len(case)), 1.0, Tolerance("float64", 1.0)), _tags(case),
                      {"lambda_max": lam}, "mpmath 50 digits")


def _closed_form_mp(case: np.ndarray) -> list[list[float]]:
    """diag(p) − ppᵀ computed in mpmath at 50 digits (as floats, and as a nested list)."""
    with mpmath.workdps(50):
        z = [mpmath.mpf(float(v)) for v in case]
        weights = [mpmath.exp(v - max(z)) for v in z]
        p = [w / sum(weights) for w in weights]
        return [[float((p[i] if i == j else 0) - p[i] * p[j]) for j in range(len(p))] for i in range(len(p))]


def _tags(case: np.ndarray) -> tuple[str, ...]:
    top2 = np.sort(case)[-2:]
    return ("k-2",) * (len(case) == 2) + ("tied-logits",) * bool(top2[0] == top2[1])
