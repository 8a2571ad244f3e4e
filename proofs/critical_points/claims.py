r"""Critical points from the Hessian (C7), and [S004]'s semidefinite mistake.

Source: [S004] (lecture notes on gradient descent: Taylor expansion with the Hessian and the
classification of critical points, whose case list is garbled); restated as C7 in ``docs/claims.md#c7``.

At a stationary point :math:`\nabla L(\theta^*) = 0` with :math:`H = \nabla^2 L(\theta^*)`:
:math:`H \succ 0` ⇒ strict local minimum, :math:`H \prec 0` ⇒ strict local maximum, indefinite
⇒ saddle, because :math:`L(\theta^* + \varepsilon u) - L(\theta^*) = \tfrac12\varepsilon^2 u^\top H u
+ O(\varepsilon^3)`. A singular semidefinite :math:`H` decides nothing: :math:`x^4+y^2`,
:math:`x^3+y^2` and :math:`-x^4+y^2` share :math:`H = \operatorname{diag}(0, 2)` at the origin.

Claims: ``critical-point-classification`` (holds), ``semidefinite-hessian-decides`` (refuted).
The cases are in :mod:`.cases`, the checks in :mod:`.numeric`, the derivations in :mod:`.symbolic`.
"""

from __future__ import annotations

from proofs.critical_points import FAMILY
from proofs.critical_points import numeric as num
from proofs.critical_points import symbolic as sym
from proofs.critical_points.cases import SemidefiniteCase, critical_point_cases, decode_case, semidefinite_cases
from verify import SymbolicResult

__all__ = ["CLASSIFICATION", "SEMIDEFINITE"]

CLASSIFICATION = FAMILY.claim(
    id="critical-point-classification", title="Critical points classified by the Hessian",
    statement=(r"\nabla L(\theta^*) = 0:\ H \succ 0 \Rightarrow \text{strict local min};\ H \prec 0 \Rightarrow "
               r"\text{strict local max};\ H \text{ indefinite} \Rightarrow \text{saddle}"),
    symbolic=lambda: SymbolicResult([sym.second_order_term()]),
    cases=critical_point_cases, check=num.classification_check, recheck=num.classification_recheck_exact,
    relation="inequality", decode_case=decode_case,
    notes=("Checked along every eigenvector u of H with ε small enough for the cubic and quartic terms: "
           "ΔL = ½ε²λ + O(ε³) within half of ½ε²|λ|, so the sign of ΔL is the sign of λ.",
           "Small over-parameterized MLPs at stationary points found by Newton's method have singular Hessians "
           "and classify as 'degenerate' (inconclusive): that is evidence, not a claim "
           "(tests/proofs/test_critical_points.py shows it).",
           "The softmax cross-entropy Hessian is always singular (C1: H(1⊗c) = 0), so this test never "
           "certifies its minima, although convexity makes them global."),
)

SEMIDEFINITE = FAMILY.claim(
    id="semidefinite-hessian-decides", title="[S004]: a PSD Hessian at a stationary point means a minimum",
    expected="refuted",
    statement=r"\nabla L(\theta^*) = 0,\ \nabla^2 L(\theta^*) \succeq 0 \;\Longrightarrow\; \theta^* \text{ local min}",
    source=FAMILY.cite("the lecture's case list does not separate the singular case"),
    hypotheses=(r"L(x,y) = s\,a\,x^k + b\,y^2,\ k \in \{3,4\},\ \nabla^2 L(0) = \operatorname{diag}(0, 2b)",),
    symbolic=lambda: SymbolicResult([sym.same_hessian_different_points()]),
    cases=semidefinite_cases, check=num.semidefinite_check, recheck=num.semidefinite_recheck_exact,
    relation="inequality", decode_case=SemidefiniteCase.from_json,
    notes=("x⁴ + y² (minimum), x³ + y² and −x⁴ + y² (not extrema) share H = diag(0, 2) at 0.",),
)
