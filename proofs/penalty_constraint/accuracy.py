"""How accurately the constrained solver's answers are judged in :mod:`proofs.penalty_constraint`.

The solver (:func:`~proofs.penalty_constraint.solvers.constrained_solve`) reaches the optimal value to a
relative :data:`~proofs.penalty_constraint.solvers.SOLVER_RTOL`; the minimizer and the multiplier are
determined only as well as the problem's conditioning lets that value accuracy pin them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proofs.penalty_constraint import FAMILY
from proofs.penalty_constraint import solvers as sv
from verify import Tolerance

EPS64 = float(np.finfo(np.float64).eps)


def solver_tol() -> Tolerance:
    """The solver's accuracy as a Tolerance: rtol = SOLVER_RTOL + FAMILY.depth·eps (float64)."""
    return Tolerance("float64", FAMILY.depth + sv.SOLVER_RTOL / EPS64)


def pinned_tol(case: Any, stol: Tolerance) -> Tolerance:
    """The solver's accuracy on the minimizer and the multiplier (the value keeps ``stol``).

    With α = 0 and a rank-deficient X, J is flat along null(X) and the multiplier is 0: only the ball pins
    the minimizer, so a solver point feasible to a relative δ may sit √(2δ)·‖θ‖ away along null(X), and
    its multiplier estimate is off by as much. Measured on a rank-one X at seed 2: SLSQP 5·10⁻⁶ of ‖θ‖
    away, trust-constr's multiplier 1.3·10⁻⁵ of its scale, against the solver's rtol of 10⁻⁶. There both are
    judged at √(2·rtol); anywhere else at the solver's rtol.
    """
    if getattr(case, "alpha", None) == 0 and np.linalg.matrix_rank(case.X) < case.X.shape[1]:
        return Tolerance("float64", float(np.sqrt(2 * stol.rtol)) / EPS64)
    return stol


def minimizer_tol(prob: Any, theta: np.ndarray, k: float, value_tol: float, pinned: Tolerance) -> Tolerance | None:
    """The accuracy at which the solver's point pins the constrained minimizer, or None where it does not.

    The solver reaches the optimal value to ``value_tol``; a feasible θ with J(θ) ≤ J* + δ lies within
    √(2δ/μ) of the minimizer, μ = λ_min(∇²J) (convexity and the KKT conditions with a multiplier ≥ 0). On an
    ill-conditioned X (a 4 × 3 X with rows of 1e-3 and 1e-6, μ ≈ 5e-13, found at seed 2 with 300 examples)
    that is wider than the ball, and SLSQP stopped 0.19·√k from θ_α at a value within 2e-9 of it: the
    minimizers cannot be compared there, only the values. Elsewhere the wider of that and ``pinned``
    (:func:`pinned_tol`, which already covers α = 0 with a rank-deficient X, where the ball pins it).
    """
    mu = float(np.linalg.eigvalsh(prob.hess(theta))[0]) if prob.dim else 0.0
    radius = float(np.sqrt(k))
    reach = float(np.sqrt(2 * value_tol / mu)) if mu > 0 else np.inf
    if reach >= radius:
        return None
    return Tolerance("float64", max(pinned.rtol, reach / radius) / EPS64)
