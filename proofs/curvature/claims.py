r"""Curvature beyond λ_max (C8): the claims table.

Sources: the Gauss-Newton split (Schraudolph 2002; Martens 2020 §8), Hutchinson's estimator (Hutchinson 1989;
the variances in Avron & Toledo 2011), sharpness under rescaling (Dinh et al. 2017, §4). Restated as C8 in
``docs/claims.md#c8``. The checks are in :mod:`.numeric` (Gauss-Newton), :mod:`.hutchinson` and
:mod:`.rescaling`; the derivations in :mod:`.symbolic`; the cases in :mod:`.cases`.
"""

from __future__ import annotations

import functools

from proofs.curvature import FAMILY
from proofs.curvature import hutchinson as hut
from proofs.curvature import numeric as num
from proofs.curvature import rescaling as resc
from proofs.curvature import symbolic as sym
from proofs.curvature.cases import (
    RescaledCase,
    SymmetricCase,
    interpolation_cases,
    minimum_cases,
    network_cases,
    rescaled_cases,
    symmetric_cases,
)
from verify import SymbolicResult, case_from_json

__all__ = ["CLAIMS"]

_NETWORKS = (r"f: \text{a network of verify.modules() (cross-entropy) or an MLP regression (MSE), smooth "
             r"activations}",)

SPLIT = FAMILY.claim(
    id="gauss-newton-decomposition", title="The Hessian is the GGN plus the residual term",
    statement=(r"\nabla^2 L = J^\top \nabla^2_f\mathcal{L}\,J + \sum_k \frac{\partial\mathcal{L}}{\partial f_k}"
               r"\nabla^2_\theta f_k"),
    hypotheses=FAMILY.hypotheses + _NETWORKS,
    symbolic=lambda: SymbolicResult([sym.gauss_newton_split()]),
    cases=network_cases, check=num.split_check, recheck=num.split_recheck, decode_case=case_from_json,
    notes=("Gv and Rv come from verify.GaussNewton (Jv, Jᵀu by reverse mode on one graph, the output Hessian by "
           "double backward, R as the HVP of θ ↦ cᵀf with c = ∂L/∂f fixed); the oracle is the HVP of L itself.",
           "Every entry for n ≤ 48, eight seeded unit directions beyond."),
)

PSD = FAMILY.claim(
    id="ggn-psd-convex-loss", title="The GGN of a loss convex in the outputs is PSD",
    statement=r"\nabla^2_f\mathcal{L} \succeq 0 \;\Longrightarrow\; G = J^\top \nabla^2_f\mathcal{L}\,J \succeq 0",
    hypotheses=FAMILY.hypotheses + _NETWORKS + (r"\mathcal{L} \text{ cross-entropy or MSE (convex in } f)",),
    symbolic=lambda: SymbolicResult([sym.softmax_output_hessian()]),
    cases=network_cases, check=num.psd_check, recheck=num.psd_recheck, relation="inequality",
    decode_case=case_from_json,
    notes=("For cross-entropy G is the Fisher information of the predictive distribution; uᵀ(diag p − ppᵀ)u is "
           "a variance (symbolic step), so G ⪰ 0 although ∇²L itself is indefinite on most of these networks.",),
)

AT_MINIMUM = FAMILY.claim(
    id="hessian-equals-ggn-at-minimum", title="At a local minimum the Hessian equals the GGN", expected="refuted",
    statement=(r"\nabla L(\theta^*) = 0,\ \nabla^2 L(\theta^*) \succ 0 \;\Longrightarrow\; "
               r"\nabla^2 L(\theta^*) = G(\theta^*)"),
    source=FAMILY.cite("a common shortcut: the residual term vanishes only where the residuals do"),
    hypotheses=(r"L = \tfrac1N\|f(\theta) - t\|^2,\ t = f(\theta^*) - \varepsilon r,\ J^\top r = 0",),
    symbolic=lambda: SymbolicResult([sym.minimum_not_gauss_newton()]),
    cases=minimum_cases, check=num.ggn_equals_hessian_check, recheck=num.ggn_equals_hessian_recheck,
    decode_case=case_from_json,
    notes=("The cases are strict local minima by construction: residuals orthogonal to range(J) make ∇L = 0, "
           "and ε is halved until λ_min(∇²L) > 0; the check confirms both numerically before it compares.",
           "True at interpolation (hessian-equals-ggn-at-interpolation): the residual term is what differs."),
)

AT_INTERPOLATION = FAMILY.claim(
    id="hessian-equals-ggn-at-interpolation", title="Where every residual vanishes the Hessian equals the GGN",
    statement=r"f(\theta^*) = t \;\Longrightarrow\; \nabla^2 L(\theta^*) = G(\theta^*)\ \ (L = \tfrac1N\|f - t\|^2)",
    hypotheses=(r"L = \tfrac1N\|f(\theta) - t\|^2,\ t = f(\theta^*)",),
    symbolic=lambda: SymbolicResult([sym.gauss_newton_split()]),
    cases=interpolation_cases, check=functools.partial(num.ggn_equals_hessian_check, need_minimum=False),
    recheck=functools.partial(num.ggn_equals_hessian_recheck, need_minimum=False), decode_case=case_from_json,
    notes=("Allowed round-off includes (2/N)·max|f|·Σ_k max|∇²f_k|·ε: the residual term of residuals at round-off.",),
)


def _moment_claim(distribution: str, moment: str, statement: str, *, claim_id: str, title: str,
                  claimed_variance: str = "", expected: str = "holds", source: str = ""):  # type: ignore[no-untyped-def]
    kw = dict(distribution=distribution, moment=moment, claimed_variance=claimed_variance)

    def symbolic() -> SymbolicResult:
        mean, variance, _, _ = sym.hutchinson_moments(distribution, claimed_variance)
        return SymbolicResult([mean if moment == "mean" else variance])

    return FAMILY.claim(
        id=claim_id, title=title, statement=statement, expected=expected, source=source or FAMILY.source,
        hypotheses=(r"A = A^\top \in \mathbb{R}^{n\times n},\ z_i \text{ independent, } "
                    + (r"\pm1 \text{ with probability } \tfrac12" if distribution == "rademacher"
                       else r"\mathcal{N}(0, 1)"),),
        symbolic=symbolic, cases=symmetric_cases, check=functools.partial(hut.moment_check, **kw),
        recheck=functools.partial(hut.moment_recheck, **kw), decode_case=SymmetricCase.from_json,
        notes=("Expectations are exact: every sign vector (n ≤ 6) or a Gauss–Hermite grid exact for degree ≤ 5 "
               "per coordinate; the re-check in exact rationals or 50-digit mpmath.",),
    )


UNBIASED_RADEMACHER = _moment_claim("rademacher", "mean",
                                    r"E[z^\top A z] = \operatorname{tr}A\ \ (z \text{ Rademacher})",
                                    claim_id="hutchinson-unbiased-rademacher",
                                    title="Hutchinson's estimator is unbiased (Rademacher probes)")
UNBIASED_GAUSSIAN = _moment_claim("gaussian", "mean", r"E[z^\top A z] = \operatorname{tr}A\ \ (z \text{ Gaussian})",
                                  claim_id="hutchinson-unbiased-gaussian",
                                  title="Hutchinson's estimator is unbiased (Gaussian probes)")
VARIANCE_RADEMACHER = _moment_claim(
    "rademacher", "variance", r"\operatorname{Var}[z^\top Az] = 2\big(\|A\|_F^2 - \textstyle\sum_i A_{ii}^2\big)",
    claim_id="hutchinson-variance-rademacher", title="Variance of Hutchinson's estimator, Rademacher probes")
VARIANCE_GAUSSIAN = _moment_claim("gaussian", "variance", r"\operatorname{Var}[z^\top Az] = 2\|A\|_F^2",
                                  claim_id="hutchinson-variance-gaussian",
                                  title="Variance of Hutchinson's estimator, Gaussian probes")
VARIANCE_MIXED_UP = _moment_claim(
    "rademacher", "variance", r"\operatorname{Var}[z^\top Az] = 2\|A\|_F^2\ \ (z \text{ Rademacher})",
    claim_id="hutchinson-variance-gaussian-for-rademacher", claimed_variance="gaussian", expected="refuted",
    title="The Gaussian variance stated for Rademacher probes",
    source=FAMILY.cite("the Gaussian formula quoted for sign probes; their diagonal terms z_i² = 1 do not vary"))

FUNCTION_KEPT = FAMILY.claim(
    id="rescaling-preserves-function", title="Rescaling consecutive layers of a ReLU network keeps its function",
    statement=(r"c > 0:\ f(\ldots, cW_l, cb_l, W_{l+1}/c, \ldots) = f(\ldots, W_l, b_l, W_{l+1}, \ldots)"
               r"\ \ (\sigma \text{ positively homogeneous})"),
    hypotheses=(r"\sigma(cz) = c\,\sigma(z)\ (c > 0):\ \mathrm{relu} \text{ or the identity}",),
    symbolic=lambda: SymbolicResult([sym.rescaling()]),
    cases=rescaled_cases, check=resc.function_check, recheck=resc.function_recheck,
    decode_case=RescaledCase.from_json,
    notes=("The loss is unchanged with it; what moves is the parametrization (rescaling-changes-sharpness).",),
)

SHARPNESS = FAMILY.claim(
    id="sharpness-invariant-under-rescaling", title="λ_max of the Hessian is unchanged by a function-preserving "
    "rescaling", expected="refuted",
    statement=r"\lambda_{\max}\big(\nabla^2 L(T_c\theta)\big) = \lambda_{\max}\big(\nabla^2 L(\theta)\big)",
    source=FAMILY.cite("Dinh et al. 2017, §4: sharpness can be changed at will without changing the function"),
    hypotheses=(r"T_c:\ W_l, b_l \mapsto cW_l, cb_l,\ W_{l+1} \mapsto W_{l+1}/c,\ c > 0,\ \sigma \in "
                r"\{\mathrm{relu}, \mathrm{id}\}",),
    symbolic=lambda: SymbolicResult([sym.rescaling(), sym.sharpness_moves()]),
    cases=rescaled_cases, check=resc.sharpness_check, recheck=resc.sharpness_recheck,
    decode_case=RescaledCase.from_json,
    notes=("A flatness measure that is to say something about the function must be invariant under T_c "
           "(e.g. normalized by the weights' scale); λ_max, the trace and the spectrum are not.",),
)

CLAIMS = (SPLIT, PSD, AT_MINIMUM, AT_INTERPOLATION, UNBIASED_RADEMACHER, UNBIASED_GAUSSIAN, VARIANCE_RADEMACHER,
          VARIANCE_GAUSSIAN, VARIANCE_MIXED_UP, FUNCTION_KEPT, SHARPNESS)
