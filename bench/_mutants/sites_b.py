"""Mutation sites of the gradient-inequality (C3) and optimizer (C6) claims."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import sympy as sp

from _mutants.operators import Site
from proofs.gradient_inequality.claims import Form, frobenius, mpmath_recheck, spectral, torch_check
from proofs.optimizers import symbolic as opt_sym
from proofs.optimizers.numeric import rule_check, rule_recheck_mp
from proofs.optimizers.reference import torch_rule

# --------------------------------------------------------------------------- C3

hnorm = sp.Symbol("hnorm", nonnegative=True)
#: the numerator of layer t's term, 1 + ‖h⁽ᵗ⁾‖² (proofs.gradient_inequality.judge.one_plus_h_sq), in ‖h⁽ᵗ⁾‖
NUMERATOR = 1 + hnorm**2

#: the claims of C3 that hold, with the Form each is judged in
C3_FORMS = {
    "mlp-gradient-inequality": Form(),
    "mlp-gradient-inequality-per-layer": Form(per_layer=True),
    "mlp-gradient-inequality-frobenius": Form(w_norm=frobenius, j_norm=frobenius),
}
C3_TAGS = ("single-example", "tiny-scale", "zero-weights")
#: why the numerator cannot matter on zero-weights cases
ZERO_WEIGHTS = ("equivalent on these cases: some W⁽ᵗ⁾ = 0, so ∇_x f = W⁽¹⁾ᵀ…W⁽ᵗ⁾ᵀ… = 0 exactly and every term "
                "‖∇_x f‖²·numerator/(…) is 0 whatever the numerator; the layer with W⁽ᵗ⁾ = 0 is judged as "
                "‖∇_x f‖ ≤ 0, which has no numerator")


def _c3_checks(form: Form):  # type: ignore[no-untyped-def]
    return torch_check(form), mpmath_recheck(form)


def smallest_singular_value(sv: np.ndarray) -> np.ndarray:
    """σ_min in place of the norm (the smallest singular value along the last axis)."""
    return sv.min(axis=-1)


def _c3_sites(claim: str, form: Form) -> list[Site]:
    def compile_(mapping: dict) -> Any:
        f = sp.lambdify((hnorm,), NUMERATOR.xreplace(mapping), "numpy")

        def numerator(h_sq: np.ndarray) -> np.ndarray:
            h_sq = np.asarray(h_sq, dtype=np.float64)
            return np.array(np.broadcast_to(f(np.sqrt(h_sq)), h_sq.shape), dtype=np.float64)

        return numerator

    sites = [Site(claim, "numerator", lambda n: _c3_checks(replace(form, numerator=n)), role="lower",
                  exprs=(NUMERATOR,), compile=compile_, tags=C3_TAGS,
                  boundary_equivalent={"zero-weights": ZERO_WEIGHTS},
                  doc="layer t's numerator 1 + ‖h⁽ᵗ⁾‖² (judge.one_plus_h_sq, in SymPy with ‖h⁽ᵗ⁾‖ as a symbol)")]
    spectral_form = form.w_norm is spectral
    for name, field in (("W-norm", "w_norm"), ("J-norm", "j_norm")):
        sites.append(Site(
            claim, name, lambda n, field=field: _c3_checks(replace(form, **{field: n})), role="upper",
            formula=getattr(form, field), nonneg=True,
            alternatives=((("σ_min in place of σ_max", smallest_singular_value),) if spectral_form
                          else (("σ_max·(1 − 1e-2) in place of ‖·‖_F", _shrunk_spectral),)),
            doc=f"the matrix norm of {name[0]}⁽ᵗ⁾ from its singular values "
                f"({'spectral: σ_max' if spectral_form else 'Frobenius'}), in the denominator of the left side"))
    return sites


def _shrunk_spectral(sv: np.ndarray) -> np.ndarray:
    return 0.99 * spectral(sv)


# --------------------------------------------------------------------------- C6

#: per claim: the update rules its cases select (torch_rule; the first is the one the operators read), two boundary tags
C6_RULES = {
    "optimizer-sgd-momentum": ((lambda: [opt_sym.sgd(False, True), opt_sym.sgd(True, True), opt_sym.sgd(False, False)]),
                               ("nesterov", "dampening=1")),
    "optimizer-adagrad": ((lambda: [opt_sym.adagrad()]), ("lr-decay", "initial-accumulator")),
    "optimizer-rmsprop": ((lambda: [opt_sym.rmsprop(False), opt_sym.rmsprop(True)]), ("centered", "alpha=0")),
    "optimizer-adam": ((lambda: [opt_sym.adam(a, d) for d in (False, True) for a in (False, True)]),
                       ("amsgrad", "beta1=0")),
}


def mutated_rule_for(mapping: dict):  # type: ignore[no-untyped-def]
    """rule_for: the documented torch rule of a case with ``mapping`` applied to every expression of its step."""

    def rule_for(case: Any) -> opt_sym.UpdateRule:
        rule = torch_rule(case)
        if not mapping:
            return rule
        return replace(rule, name=rule.name + "-mutant", step=tuple(e.xreplace(mapping) for e in rule.step))

    return rule_for


def _step_scaled(theta_new: sp.Expr, factor: sp.Expr) -> sp.Expr:
    """θ_t = θ_{t−1} + factor·(θ_t − θ_{t−1}): the step scaled."""
    return opt_sym.theta + factor * (theta_new - opt_sym.theta)


def _c6_site(claim: str, rules_claim: str = "") -> Site:
    rules_of, tags = C6_RULES[rules_claim or claim]
    rules = rules_of()
    return Site(claim, "rule", lambda rf: (rule_check(rf), rule_recheck_mp(rf)), exprs=rules[0].step,
                outputs=tuple(r.step[0] for r in rules), output=_step_scaled, compile=mutated_rule_for, tags=tags,
                doc="the SymPy update rules of proofs.optimizers.symbolic (" + ", ".join(r.name for r in rules) + "): "
                    f"the operators act on the sub-expressions of {rules[0].name}, and a mutation rewrites that "
                    "sub-expression wherever it occurs in the rule a case selects; scale-output scales the step "
                    "θ_t − θ_{t−1} of every rule")


def sites() -> list[Site]:
    """The sites of C3 and C6, in claim order."""
    out = []
    for claim, form in C3_FORMS.items():
        out += _c3_sites(claim, form)
    return out + [_c6_site(c) for c in C6_RULES]
