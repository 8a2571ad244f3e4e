r"""The claims of the family: the Hessian's closed form, the smoothness bound, and a wrong bound.

``lse-hessian`` (holds): ∇² lse(z) = diag(p) − ppᵀ, derived with SymPy and compared with autograd.
``lse-is-1-smooth`` (holds): λ_max(∇² lse) ≤ 1 (indeed ≤ ½, reached at two tied logits).
``lse-is-quarter-smooth`` (refuted): λ_max ≤ ¼ — a tempting bound from "each p_i(1 − p_i) ≤ ¼",
which forgets the off-diagonal −p_i p_j: at z = (0, 0), λ_max = ½.
"""

from __future__ import annotations

from verify import logits

from . import FAMILY
from .numeric import hessian_check, hessian_recheck, smoothness_check, smoothness_recheck
from .symbolic import derivation


def _one(k: int) -> float:
    return 1.0


def _quarter(k: int) -> float:
    return 0.25


HESSIAN = FAMILY.claim(
    id="lse-hessian", title="Hessian of log-sum-exp",
    statement=r"\nabla^2 \operatorname{lse}(z) = \operatorname{diag}(p) - pp^\top",
    symbolic=derivation, cases=lambda: logits((2, 6)), check=hessian_check, recheck=hessian_recheck,
    notes=("Compared entry by entry with torch's Hessian of torch.logsumexp; the tolerance grows with max|z| "
           "(softmax subtracts max z first).",),
)

SMOOTH = FAMILY.claim(
    id="lse-is-1-smooth", title="Log-sum-exp is 1-smooth",
    statement=r"\lambda_{\max}\left(\nabla^2 \operatorname{lse}(z)\right) \le 1",
    cases=lambda: logits((2, 6)), relation="inequality",
    check=lambda case, ctx: smoothness_check(case, ctx, _one),
    recheck=lambda case, ctx: smoothness_recheck(case, ctx, _one),
    notes=("diag(p) − ppᵀ is a covariance matrix of a one-hot vector: its eigenvalues lie in [0, ½].",),
)

QUARTER_SMOOTH = FAMILY.claim(
    id="lse-is-quarter-smooth", title="Log-sum-exp is ¼-smooth (a wrong bound)", expected="refuted",
    statement=r"\lambda_{\max}\left(\nabla^2 \operatorname{lse}(z)\right) \le \tfrac14",
    source=FAMILY.cite("the bound p_i(1 − p_i) ≤ ¼ on the diagonal, taken for the whole matrix"),
    cases=lambda: logits((2, 6)), relation="inequality",
    check=lambda case, ctx: smoothness_check(case, ctx, _quarter),
    recheck=lambda case, ctx: smoothness_recheck(case, ctx, _quarter),
    notes=("Two tied logits give p = (½, ½) and the eigenvector (1, −1) with eigenvalue ½.",),
)
