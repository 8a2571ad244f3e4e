"""C5: the gradient-norm penalty's gradient, its FD approximation and SAM; [S002]'s two mistakes refuted."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
import torch

from proofs.gradient_norm_penalty import cases as cs
from proofs.gradient_norm_penalty import claims as c5
from proofs.gradient_norm_penalty import figures as figs
from proofs.gradient_norm_penalty import numeric as num
from proofs.gradient_norm_penalty import oracles as orc
from proofs.gradient_norm_penalty import symbolic as sym
from verify import CheckContext, Claim, Figure, MLPCase, case_from_json, gradient, run_claim
from verify.check import replay
from verify.claims import VerdictKind

EXAMPLES = 25


def _run(claim, examples=EXAMPLES, **kw):
    return run_claim(claim, examples=examples, device="cpu", **kw)


def _tanh_case(lam=1.0, r=0.05):
    """A fixed depth-2 tanh regression (13 parameters, g ≠ 0)."""
    mlp = MLPCase(widths=(2, 3, 1), activation="tanh", bias=True,
                  weights=(np.array([[1.0, -0.5], [0.25, 1.5], [-1.0, 0.75]]), np.array([[0.5, -1.25, 1.0]])),
                  biases=(np.array([0.1, -0.2, 0.3]), np.array([0.25])), x=np.array([[1.0, 2.0], [-0.5, 0.25]]))
    return cs.GNPCase(mlp, lam, r)


def _quadratic_case():
    mlp = MLPCase(widths=(2, 2), activation="identity", bias=True, weights=(np.array([[1.0, 2.0], [0.5, -1.0]]),),
                  biases=(np.array([0.5, 0.0]),), x=np.array([[1.0, 0.5], [-1.0, 2.0], [0.25, 0.0]]))
    return cs.GNPCase(mlp, 1.0, 0.05)


def _variant(claim, check, **kw):
    return Claim(id=f"wrong-{claim.id}", statement="wrong", source="test", cases=claim.cases, check=check,
                 relation=claim.relation, **kw)


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("claim", [c5.GRADIENT, c5.FD_ORDER, c5.SAM], ids=lambda c: c.id)
def test_holding_claims_are_proved(claim):
    v = _run(claim)
    assert v.verdict is VerdictKind.PROVED and v.matches_expectation, v.message
    assert v.numeric["examples"] >= EXAMPLES // 2


@pytest.mark.parametrize("claim", [c5.HALF, c5.PENALIZED_FD], ids=lambda c: c.id)
def test_seed_mistakes_are_refuted_with_rechecked_replayable_counterexamples(claim):
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED and v.matches_expectation, v.message
    ce = v.counterexample
    assert ce["comparison"]["status"] == "violated" and ce["recheck"]["status"] == "violated"
    case_json = json.loads(json.dumps(ce["case"]))
    assert replay(claim, case_json).comparison.violated
    case = cs.GNPCase.from_json(case_json)
    assert case.mlp.n_params <= 6, "the counterexample is shrunk to a tiny network"


def test_penalized_fd_error_plateaus_instead_of_going_to_zero():
    """The seed's quotient of ∇L: its error at r = 1e-8 is the plateau ‖∇²L ĝ − Hĝ‖, not O(r)."""
    v = _run(c5.PENALIZED_FD)
    ce = v.counterexample
    smallest_r, err = ce["details"]["fd_errors"]["forward"][0]
    assert smallest_r == pytest.approx(1e-8)
    plateau = ce["recheck"]["lhs"]
    assert plateau > 1e3 * ce["recheck"]["atol"]
    assert err == pytest.approx(plateau, rel=1e-5)
    # on a generic net the error curve is flat over six decades of r
    result = num.seed002_fd_check(_tanh_case(), CheckContext(), stop_at_violation=False)
    errs = [e for _, e in result.details["fd_errors"]["forward"]]
    assert result.comparison.violated and max(errs) < 1.01 * min(errs)
    assert abs(result.details["slope_forward"] or 0.0) < 0.01


def _through_ghat(f, leaf, rho):
    """ε = ρĝ kept differentiable: the gradient picks up a ∂ĝ/∂θ term SAM does not have."""
    (g,) = torch.autograd.grad(f(leaf), leaf, create_graph=True)
    return rho * g / g.norm()


def _halved(quotient):
    return lambda *args: quotient(*args) / 2


def test_wrong_formulas_are_refuted():
    squared = _variant(c5.GRADIENT, lambda c, ctx: num.gradient_check(c, ctx, formula=lambda hg, n: 2.0 * hg / n))
    assert _run(squared).verdict is VerdictKind.REFUTED
    halved = {scheme: _halved(q) for scheme, q in num.FD_QUOTIENTS.items()}
    wrong_divisor = _variant(c5.FD_ORDER, lambda c, ctx: num.fd_order_check(c, ctx, quotients=halved))
    assert _run(wrong_divisor).verdict is VerdictKind.REFUTED
    not_detached = _variant(c5.SAM, lambda c, ctx: num.sam_check(c, ctx, perturbation=_through_ghat))
    v = _run(not_detached)
    assert v.verdict is VerdictKind.REFUTED and v.counterexample["details"]["detach"] is False
    alpha_half = _variant(c5.SAM, lambda c, ctx: num.sam_check(c, ctx, mixing_weight=lambda lam, r: 0.5 * lam / r))
    assert _run(alpha_half).verdict is VerdictKind.REFUTED


def test_half_factor_on_a_hand_case():
    """L = ½(−w − 1)² at w = 1: g = 2, H = 1, ∇(L + ‖g‖) = 3; the seed's ½ gives 2.5."""
    mlp = MLPCase(widths=(1, 1), activation="tanh", bias=False, weights=(np.array([[1.0]]),), biases=(),
                  x=np.array([[-1.0]]))
    case = cs.GNPCase(mlp, 1.0, 0.05)
    assert c5.GRADIENT.check(case, CheckContext()).comparison.holds
    wrong = c5.HALF.check(case, CheckContext()).comparison
    assert wrong.violated and (wrong.lhs, wrong.rhs) == (2.5, 3.0)
    assert c5.HALF.check(case, CheckContext()).details["factor"] == 0.5
    assert c5.HALF.recheck(case, CheckContext()).comparison.violated


# --------------------------------------------------------------------------- FD order


def test_fd_slopes_on_a_tanh_net():
    result = c5.FD_ORDER.check(_tanh_case(), CheckContext())
    assert result.comparison.holds
    d = result.details
    assert 0.95 <= d["slope_forward"] <= 2.05 and 1.9 <= d["slope_central"] <= 2.1
    assert d["M3"] > 0 and d["M4"] > 0
    assert 1e-9 < d["r_star_forward"] < 1e-6 and 1e-7 < d["r_star_central"] < 1e-4
    assert c5.FD_ORDER.check(_tanh_case(), CheckContext(dtype="float32")).comparison.holds


def test_quadratic_loss_fd_is_exact_for_every_r():
    result = c5.FD_ORDER.check(_quadratic_case(), CheckContext())
    d = result.details
    assert result.comparison.holds and d["M3"] == d["M4"] == 0.0
    assert max(d["r_decided"]) == 10.0 and min(d["r_decided"]) <= 1e-6
    big = [e for r, e in d["fd_errors"]["forward"] if r >= 1e-2]
    assert max(big) < 1e-12


def test_mpmath_recheck_clears_the_gelu_tail_artefact():
    """torch's GELU derivative loses ~1% near z = −8 (1 + erf cancels): the FD check trips, mpmath clears it."""
    W1, W2 = np.zeros((5, 3)), np.zeros((2, 5))
    W1.flat[11], W2.flat[3], W2.flat[8] = 0.09375, -10.0, -10.0
    mlp = MLPCase((3, 5, 2, 1), "gelu", False, (W1, W2, np.array([[0.0, 1.0]])), (),
                  np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 10.0]]))
    case = cs.GNPCase(mlp, 1.0, 0.05)
    assert c5.FD_ORDER.check(case, CheckContext()).comparison.violated
    again = c5.FD_ORDER.recheck(case, CheckContext())
    assert again.comparison.holds and again.details["recheck"] == "mpmath, 60 digits"
    assert "gelu" not in cs.FD_SMOOTH


def test_mpmath_gradient_matches_autograd():
    case = _tanh_case()
    f, theta = orc.regression_loss(case.mlp)
    with mpmath.workdps(30):
        mp = orc.mp_gradient(case.mlp, [mpmath.mpf(float(t)) for t in theta.tolist()])
    assert np.allclose([float(x) for x in mp], gradient(f, theta).numpy(), rtol=0, atol=1e-15)


def test_zero_gradient_cases_are_filtered():
    # identity net whose output equals the target cos(0) = 1 everywhere: g = 0
    mlp = MLPCase(widths=(1, 1), activation="identity", bias=True, weights=(np.array([[0.0]]),),
                  biases=(np.array([1.0]),), x=np.array([[3.0]]))
    assert not cs.nonzero_gradient(mlp)
    assert cs.nonzero_gradient(_tanh_case().mlp)


# --------------------------------------------------------------------------- figures


def test_fd_order_figure_marks_the_recommended_steps():
    (fig,) = c5.FD_ORDER.figures(CheckContext(seed=3))
    assert isinstance(fig, Figure) and fig.x_log and fig.y_log
    assert [s.label for s in fig.series] == ["float64 forward", "float64 central", "float32 forward",
                                              "float32 central"]
    r_star = {m.label.split(" = ")[0]: m.value for m in fig.marks}
    assert 1e-9 < r_star["r* float64 forward"] < 1e-6 and 1e-7 < r_star["r* float64 central"] < 1e-4
    assert 1e-5 < r_star["r* float32 forward"] < 1e-2 and 1e-4 < r_star["r* float32 central"] < 1e-1
    assert "fitted slope" in fig.caption
    assert fig.to_json() == c5.FD_ORDER.figures(CheckContext(seed=3))[0].to_json()
    assert fig.to_json() != c5.FD_ORDER.figures(CheckContext(seed=4))[0].to_json()


def test_penalized_figure_shows_the_plateau():
    (fig,) = c5.PENALIZED_FD.figures(CheckContext())
    (mark,) = fig.marks
    series = {s.label: s for s in fig.series}
    wrong = series["∇L forward ([S002])"]
    right = series["∇L_S forward (right)"]
    at = figs.FIGURE_GRID.index(10.0 ** (-18 / 3))  # r = 1e-6
    assert wrong.y[at] == pytest.approx(mark.value, rel=1e-3) and right.y[at] < 1e-3 * mark.value


def test_verdicts_carry_the_figures():
    v = _run(c5.FD_ORDER, examples=5)
    assert v.numeric["figures"][0]["title"].startswith("FD Hessian-vector product")


# --------------------------------------------------------------------------- symbolic


def test_symbolic_steps_are_proved():
    steps = [sym.norm_gradient("exp-poly"), sym.norm_gradient("cubic-net"), sym.squared_norm_gradient(),
             sym.gradient_taylor(), sym.central_difference(), sym.quadratic_fd_exact(), sym.integral_remainder(),
             sym.mixing_identity(), sym.alpha_one_is_sam(), sym.mixing_error()]
    assert all(s.status == "proved" for s in steps), [(s.name, s.status, s.detail) for s in steps]


def test_seed_steps_are_refuted_exactly():
    assert sym.norm_gradient("exp-poly", sym.SEED002_HALF).status == "refuted"
    assert sym.penalized_fd_limit().status == "refuted"


def test_case_keeps_its_json_layout_and_round_trips():
    case = _tanh_case(lam=0.5, r=0.01)
    data = case.to_json()
    assert list(data) == ["type", "mlp", "lam", "r"] and data["type"] == "GNPCase" and data["lam"] == 0.5
    assert data["mlp"] == case.mlp.to_json()
    again = case_from_json(json.loads(json.dumps(data)))
    assert again == case and again.tags == case.tags == (*case.mlp.tags, "tanh")
