r"""A norm penalty is a constraint in disguise (C4), when J and Ω are convex, and [S003]'s slips.

Source: [S003] ("深入理解深度学习——正则化(Regularization):作为约束的范数惩罚", after the Deep
Learning book §7.2), which writes the generalized Lagrangian
:math:`L(\theta, \alpha) = J(\theta) + \alpha(\Omega(\theta) - k)`, calls
:math:`\theta^* = \arg\min_\theta \max_\alpha L` the solution and concludes that penalized training with
:math:`\alpha^*` *is* the constrained problem; it then recommends per-column max-norm projection
(Srebro & Shraibman 2005). Restated precisely as C4 in ``docs/claims.md#c4``.

Statement (C4 b, convex J and Ω, Slater): a constrained minimizer :math:`\theta^*` of
:math:`\min J` s.t. :math:`\Omega \le k` has a multiplier :math:`\alpha^* \ge 0` with

.. math:: \theta^* \in \arg\min_\theta J(\theta) + \alpha^*\Omega(\theta), \qquad
          \alpha^*(\Omega(\theta^*) - k) = 0 ,

and for ridge (:math:`J = \tfrac12\|X\theta-y\|^2`, :math:`\Omega=\|\theta\|^2`)
:math:`\theta(\alpha) = (X^\top X + 2\alpha I)^{-1}X^\top y` with
:math:`k(\alpha) = \sum_i \sigma_i^2(u_i^\top y)^2/(\sigma_i^2+2\alpha)^2` strictly decreasing.

Claims: ``penalty-constraint-equivalence``, ``penalty-path-monotone``, ``max-norm-projection`` (hold);
``seed003-max-norm-on-columns``, ``penalty-constraint-without-convexity``,
``penalty-constraint-multiplier-convention`` (refuted). The cases and their strategies live in
:mod:`proofs.penalty_constraint.cases`, the solvers (the oracles) in :mod:`proofs.penalty_constraint.solvers`,
the per-case checks and the formulas they test in :mod:`proofs.penalty_constraint.numeric`, the derivations in
:mod:`proofs.penalty_constraint.symbolic` and the figures in :mod:`proofs.penalty_constraint.figures`.
"""

from __future__ import annotations

from proofs.penalty_constraint import FAMILY
from proofs.penalty_constraint import cases as cs
from proofs.penalty_constraint import figures as fig
from proofs.penalty_constraint import numeric as num
from proofs.penalty_constraint import solvers as sv
from proofs.penalty_constraint import symbolic as sym
from verify import SymbolicResult, case_from_json

CONVEX = (r"J, \Omega \text{ convex};\ \Omega = \|\theta\|^2;\ \exists\theta: \Omega(\theta) < k \ (\text{Slater})",
          r"\text{ridge: } J = w\|X\theta - y\|^2,\ w \in \{\tfrac12, 1, \tfrac1n, \tfrac1{2n}\};\ "
          r"\text{softmax regression: } J = \text{mean cross-entropy of } W")


EQUIVALENCE = FAMILY.claim(
    id="penalty-constraint-equivalence", title="Norm penalty ⇔ norm constraint (convex J, Ω)",
    statement=(r"\theta_\alpha = \arg\min_\theta J + \alpha\Omega,\ k = \Omega(\theta_\alpha) \;\Longrightarrow\; "
               r"\theta_\alpha = \arg\min_{\Omega(\theta)\le k} J(\theta) \text{ with KKT multiplier } \alpha;\ "
               r"\text{ridge: } \theta_\alpha = (X^\top X + \tfrac{\alpha}{w} I)^{-1}X^\top y"),
    hypotheses=CONVEX,
    symbolic=lambda: SymbolicResult(sym.equivalence_steps()),
    cases=cs.equivalence_cases, check=num.equivalence_check, recheck=num.equivalence_recheck,
    decode_case=case_from_json,
    notes=(f"Oracle: scipy SLSQP (ftol {sv.SLSQP_FTOL:g}) on the constrained problem, rescaled to the unit ball "
           "and polished by Newton steps on the KKT system; its minimizer, value and multiplier are judged at "
           f"{sv.SOLVER_RTOL:g} relative to their scales (the solver's accuracy), everything else at c·eps·scale. "
           "The re-check uses trust-constr.",
           "The claimed multiplier m must also be KKT-stationary at θ_α, ∇J(θ_α) + 2mθ_α = 0, at c·eps of the "
           "gradient's scale: this pins m at a tiny α, where the solver's multiplier is not accurate enough.",
           f"Accelerated projected gradient descent ({sv.FISTA_STEPS} steps from 0) must satisfy "
           "J(θ_α) ≤ J(θ_T) ≤ J(θ_α) + 2Lk/(T+1)² (Beck–Teboulle), i.e. reach the same optimum.",
           "A solver given the same J as the penalty returns multiplier α under every convention; the ridge "
           "closed form is (XᵀX + (α/w)I)⁻¹Xᵀy for J = w‖Xθ − y‖².",
           "α = 0 cases: k = k_factor·Ω(X⁺y) ≥ Ω(θ₀), the constraint is inactive (or just touching) and α* = 0; "
           "for rank-deficient X and k_factor > 1 the minimizer is not unique and only values are compared."),
)

PATH = FAMILY.claim(
    id="penalty-path-monotone", title="Along the penalty path Ω decreases and J increases",
    statement=(r"\alpha_1 \le \alpha_2 \;\Longrightarrow\; \Omega(\theta_{\alpha_1}) \ge \Omega(\theta_{\alpha_2}),\ "
               r"J(\theta_{\alpha_1}) \le J(\theta_{\alpha_2}),\ \theta_\alpha \in \arg\min J + \alpha\Omega"),
    hypotheses=(r"\theta_\alpha \text{ a global minimizer of } J + \alpha\Omega "
                r"(\text{checked on convex ridge and softmax regression})",),
    symbolic=lambda: SymbolicResult(sym.path_steps()),
    cases=cs.path_cases, check=num.path_check, relation="inequality", decode_case=cs.PathCase.from_json,
    figures=fig.path_figures,
    notes=("Ridge minimizers from the closed form (solve error ≤ cond·eps, in the tolerance's noise); softmax "
           "minimizers by Newton's method, whose certified distance ‖∇F‖/(2α) is subtracted from the margin.",
           "On MLPs the penalized minimizers are only local: the figure shows such a path as evidence only."),
)

MAX_NORM = FAMILY.claim(
    id="max-norm-projection", title="Max-norm: w·min(1, c/‖w‖) is the projection; torch.renorm on rows",
    statement=(r"P(w) = w \min\!\big(1, \tfrac{c}{\|w\|}\big) = \arg\min_{\|v\|\le c}\|v - w\|,\ "
               r"\texttt{torch.renorm}(W, 2, 0, c)_j = P(W_{j,:}) \pm \tfrac{c\,10^{-7}}{\|W_{j,:}\|}"),
    hypotheses=(r"W \in \mathbb{R}^{\text{out}\times\text{in}} \text{ of } \texttt{nn.Linear};\ c > 0",),
    cases=cs.max_norm_cases, check=num.max_norm_check, recheck=num.max_norm_recheck, relation="inequality",
    decode_case=case_from_json,
    notes=("Optimality certificate: sup over the ball of ⟨w − P, z − P⟩ = c‖w − P‖ − ⟨w − P, P⟩ ≤ 0 (exact, eps); "
           f"SLSQP's projection judged at {sv.SOLVER_RTOL:g}; each unit's own multiplier (‖w‖/c − 1)/2 recorded.",
           "A unit's incoming weights are read off autograd (row j of ∂(Wx)/∂x), independent of the layout "
           "assumption: they are the rows of nn.Linear.weight."),
)

COLUMNS = FAMILY.claim(
    id="seed003-max-norm-on-columns", title="[S003]: per-column max-norm on nn.Linear bounds each unit",
    expected="refuted",
    statement=(r"\tilde W = \texttt{torch.renorm}(W, 2, 1, c)\ (\text{each column}) \;\Longrightarrow\; "
               r"\Big\|\tfrac{\partial (\tilde W x)_j}{\partial x}\Big\| \le c \ \forall j"),
    source=FAMILY.cite("the post: '约束神经网络层的权重矩阵每列的范数'"), hypotheses=MAX_NORM.hypotheses,
    cases=lambda: cs.max_norm_cases(binding=True), check=num.columns_check, recheck=num.columns_recheck,
    relation="inequality", decode_case=case_from_json,
    notes=("In the book's convention (h = Wᵀx) a unit's weights are a column; torch's nn.Linear computes "
           "x Wᵀ, so a unit's incoming weights are a row and the column constraint bounds outgoing weights. "
           "The re-check redoes the column scaling in mpmath (50 digits) without torch's 1e-7 offset.",),
)

NONCONVEX = FAMILY.claim(
    id="penalty-constraint-without-convexity", title="Penalty ⇔ constraint without convexity",
    expected="refuted",
    statement=(r"t^* \in \arg\min_{t^2 \le k} J(t),\ \alpha^* \text{ its KKT multiplier} \;\Longrightarrow\; "
               r"t^* \in \arg\min_t J(t) + \alpha^* t^2"),
    source=FAMILY.cite("the post drops the convexity hypothesis"),
    hypotheses=(r"J(t) = -a e^{-(t-b)^2} - c\,e^{-(t-d)^2/w} \text{ (non-convex)},\ \Omega = t^2",),
    cases=cs.nonconvex_cases, check=num.nonconvex_check, recheck=num.nonconvex_recheck, relation="inequality",
    decode_case=cs.nonconvex_from_json, figures=fig.nonconvex_figures,
    notes=("Both minimizations are global: a grid of "
           f"{sv.GRID_POINTS} points plus a bounded refinement (1-D); α* = −J'(t*)/(2t*) when the constraint is "
           "active. The re-check evaluates both objective values in mpmath at 40 digits on a 10× finer grid.",
           "C4 example: a = 2, b = 3, c = 1, d = 0.5, w = 0.1, k = 6.25: t* = 2.5, α* ≈ 0.3115, J + α*t² is 0.389 "
           "at t* but −0.928 at t ≈ 0.486."),
)

CONVENTION = FAMILY.claim(
    id="penalty-constraint-multiplier-convention",
    title="[S003] convention slip: ½-convention θ(α) has multiplier α for J = ‖Xθ − y‖²", expected="refuted",
    statement=(r"\theta = (X^\top X + 2\alpha I)^{-1}X^\top y,\ k = \|\theta\|^2 \;\Longrightarrow\; \theta = "
               r"\arg\min_{\|\theta\|^2 \le k} \|X\theta - y\|^2 \text{ with multiplier } \alpha"),
    source=FAMILY.cite("mixing the ½-convention closed form with J = ‖Xθ − y‖²"),
    hypotheses=(r"X^\top y \ne 0,\ \alpha > 0",),
    symbolic=lambda: SymbolicResult([sym.multiplier_convention(sym.seed003_multiplier), sym.multiplier_convention()]),
    cases=lambda: cs.ridge_problems(conventions=("full",), inactive=False), check=num.convention_check,
    recheck=num.convention_recheck, decode_case=case_from_json,
    notes=("θ is the constrained solution, but its multiplier is 2α: stationarity 2Xᵀ(Xθ − y) + 2μθ = 0 holds "
           "with μ = 2α (proved symbolically; μ = α is refuted by an exact rational point). The re-check computes "
           "the multiplier in exact rationals.",),
)
