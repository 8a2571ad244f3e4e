"""C3: the input/parameter gradient inequality, its symbolic steps, and wrong variants that must be refuted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.gradient_inequality import claims as c3
from proofs.gradient_inequality import symbolic as sym
from verify import (
    CheckContext,
    MLPCase,
    MLPHeadCase,
    dump_verdicts,
    mlp_head_cases,
    prove_identity,
    run_claim,
)
from verify.claims import VerdictKind

EXAMPLES = 40


def _run(claim, examples=EXAMPLES, **kw):
    return run_claim(claim, examples=examples, device="cpu", **kw)


def _case(widths, activation, weights, biases, x, head="linear", u=None):
    net = MLPCase(tuple(widths), activation, bool(biases), tuple(np.array(w, dtype=float) for w in weights),
                  tuple(np.array(b, dtype=float) for b in biases), np.array(x, dtype=float))
    return MLPHeadCase(net, head, np.ones(widths[-1]) if u is None else np.array(u, dtype=float))


# --------------------------------------------------------------------------- the claims


@pytest.mark.parametrize("claim", [c3.SUMMED, c3.PER_LAYER, c3.FROBENIUS], ids=lambda c: c.id)
def test_holding_claims_are_proved_and_reach_equality(claim):
    v = _run(claim)
    assert v.verdict is VerdictKind.PROVED, v.message
    assert v.symbolic["proved"]
    assert v.numeric["tightest_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert {"width-1", "rank-one", "zero-weights"} <= set(v.numeric["boundary_cases_hit"])


def test_float32_run_keeps_the_verdict():
    v = _run(c3.SUMMED, examples=30, dtype="float32")
    assert v.verdict is VerdictKind.PROVED, v.message
    assert v.numeric["tightest_ratio"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("claim", [c3.NO_BIAS_KEEPS_ONE, c3.DOUBLED], ids=lambda c: c.id)
def test_seed_mistakes_are_refuted_numerically_and_exactly(claim):
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED and v.matches_expectation
    assert v.counterexample is not None and v.counterexample["recheck"]["status"] == "violated"
    assert "mpmath" in claim.recheck(MLPHeadCase.from_json(v.counterexample["case"]), CheckContext()).tolerance
    assert [s["status"] for s in v.symbolic["steps"]] == ["refuted"]
    # the shrunk counterexample is the simplest equality case, widths (1, 1)
    assert MLPHeadCase.from_json(v.counterexample["case"]).mlp.widths == (1, 1)


def test_correct_no_bias_statement_holds():
    """Without biases the bound holds once the '1 +' goes: the '1 +' is the seed's only mistake."""
    claim = c3.make_claim(c3.Form(numerator=c3.h_sq_only), claim_id="no-bias-without-one", statement="no 1+",
                          bias=False)
    v = _run(claim)
    assert v.verdict is VerdictKind.VERIFIED, v.message
    assert v.numeric["tightest_ratio"] == pytest.approx(1.0, abs=1e-12)


def _one_percent_larger(h_sq):
    return 1.01 * (1.0 + h_sq)


WRONG = {
    "doubled-per-layer": c3.Form(per_layer=True, numerator=c3.doubled_one_plus_h_sq),
    "one-percent-larger-lhs": c3.Form(numerator=_one_percent_larger),
    "sigma-min-of-W": c3.Form(w_norm=lambda sv: sv.min(axis=-1)),
    "frobenius-of-J-halved": c3.Form(w_norm=c3.frobenius, j_norm=lambda sv: c3.frobenius(sv) / 2),
}


@pytest.mark.parametrize("kind", list(WRONG))
def test_wrong_variants_are_refuted(kind):
    v = _run(c3.make_claim(WRONG[kind], claim_id=f"wrong-{kind}", statement="wrong"), examples=60)
    assert v.verdict is VerdictKind.REFUTED, (kind, v.message)
    assert v.counterexample["recheck"]["status"] == "violated"


def test_smallest_singular_value_of_J_is_refuted_on_an_aligned_chain():
    """σ_min(J) in place of ‖J‖₂: wrong wherever J⁽ᵗ⁾ has two singular values and the bound is tight."""
    case = _case((2, 2, 1), "identity", [[[2.0, 0.0], [0.0, 1.0]], [[1.0, 0.0]]], [[0.5, -0.5], [1.0]],
                 [[1.0, 1.0]], u=[1.0])  # J⁽²⁾ = W⁽¹⁾ = diag(2, 1), W⁽²⁾ along its top singular vector
    assert c3.SUMMED.check(case, CheckContext()).comparison.ratio == pytest.approx(1.0, abs=1e-14)
    claim = c3.make_claim(c3.Form(j_norm=lambda sv: sv.min(axis=-1)), claim_id="wrong-smin-j", statement="wrong")
    assert claim.check(case, CheckContext()).comparison.status == "violated"
    assert claim.recheck(case, CheckContext()).comparison.status == "violated"


def _gaussian_wide(seed: int) -> MLPHeadCase:
    """What a naive checker samples: Glorot-like Gaussian nets, widths 8-16, depth 2-4."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(2, 5))
    widths = [int(w) for w in rng.integers(8, 17, size=depth + 1)]
    weights = [rng.normal(0, 1 / np.sqrt(widths[t]), (widths[t + 1], widths[t])) for t in range(depth)]
    biases = [rng.normal(0, 0.1, widths[t + 1]) for t in range(depth)]
    activation = ("tanh", "sigmoid", "softplus", "gelu", "identity", "relu")[int(rng.integers(0, 6))]
    return _case(widths, activation, weights, biases, rng.normal(size=(4, widths[0])), u=rng.normal(size=widths[-1]))


def test_naive_sampling_never_sees_the_bound_bite():
    """Wide random nets sit far below the bound: a 1% error in the left side survives them, not us."""
    naive = lambda: st.integers(0, 2**32 - 1).map(_gaussian_wide)
    v = _run(c3.make_claim(c3.Form(), claim_id="naive-summed", statement="C3", cases=naive), examples=60)
    assert v.numeric["tightest_ratio"] < 0.75
    v = _run(c3.make_claim(c3.Form(numerator=_one_percent_larger), claim_id="naive-one-percent", statement="wrong",
                           cases=naive), examples=60)
    assert v.verdict is VerdictKind.VERIFIED


def test_ratio_distribution_has_mass_at_equality_and_below():
    d = c3.ratio_distribution(c3.SUMMED, examples=60, seed=3)
    q = d["quantiles"]
    assert d["cases"] >= 40 and sum(d["histogram"]) == d["cases"]
    assert list(q.values()) == sorted(q.values())
    assert q["max"] == pytest.approx(1.0, abs=1e-12) and q["min"] < 0.5
    assert 0.2 <= d["at_least"]["0.999"] < 1.0


# --------------------------------------------------------------------------- the numbers


#: activations and heads whose torch derivatives are well conditioned (torch's tanh' = 1 - t² and
#: sigmoid' = s(1 - s) lose all digits in saturation, and ∇(½‖h - u‖²) = h - u cancels near h = u:
#: consistently in every torch quantity, so the checks are unaffected, but not comparable with mpmath)
_CONDITIONED = mlp_head_cases(width=(1, 8), batch=(1, 3), activations=("identity", "relu", "softplus", "gelu"),
                              heads=("linear", "logsumexp"))


@settings(max_examples=10, deadline=None, database=None)
@given(case=_CONDITIONED)
def test_torch_vmap_loop_and_mpmath_routes_agree(case):
    fast, loop, exact = c3.gradient_terms(case), c3.gradient_terms(case, batched=False), c3.gradient_terms_mp(case)

    def values(t, name):
        return getattr(t, name).value()

    for name in ("grad_x", "grad_theta", "grad_layer"):
        np.testing.assert_allclose(values(fast, name), values(loop, name), rtol=1e-12, atol=0)
        ok = fast.resolved.all(axis=1) if name != "grad_layer" else fast.resolved
        np.testing.assert_allclose(values(fast, name)[ok], values(exact, name)[ok], rtol=1e-8, atol=0)
    for a, b in zip(fast.w_sv, exact.w_sv):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * a.max())  # mpmath's SVD: 1e-40 relative
    np.testing.assert_allclose(fast.h_sq, exact.h_sq, rtol=1e-10, atol=1e-300)


def test_zero_weights_skip_the_layer_and_force_zero_input_gradient():
    case = _case((2, 2, 1), "tanh", [np.zeros((2, 2)), [[1.0, -2.0]]], [[0.5, 0.0], [0.25]], [[1.0, 2.0]])
    result = c3.SUMMED.check(case, CheckContext())
    assert result.comparison.status == "holds" and result.details["skipped_layers"] == [1, 2]  # W⁽¹⁾ = J⁽²⁾ = 0
    assert result.comparison.ratio == 0.0
    per_layer = c3.PER_LAYER.check(case, CheckContext())
    assert per_layer.comparison.status == "holds"


def test_a_nonzero_input_gradient_at_a_zero_denominator_is_a_violation():
    """The multiplied form at W = 0 says ∇_x f = 0; terms claiming otherwise are caught."""
    terms = c3.gradient_terms(_case((1, 1), "identity", [[[2.0]]], [[0.0]], [[1.0]]))
    forged = c3.GradientTerms(**{**terms.__dict__, "w_sv": (np.zeros(1),)})
    comparison, details = c3.judge(forged, "float64")
    assert comparison.status == "violated" and details["form"] == "zero-denominator"


def test_saturated_softplus_chain_is_resolved_exactly():
    """Gradients near 1e-316 (saturated softplus): rescaling the head keeps the equality case at ratio 1.

    Before the head was rescaled, float64 round-off in the subnormal range gave ratio 1 + 1.2e-6 here.
    """
    case = _case((1, 1, 1, 1), "softplus", [[[645.5078125]], [[500.0]], [[74.51171875]]],
                 [[0.0], [-305.6640625], [-44.23828125]], [[-0.6090307235717773]], u=[-0.6513671875])
    terms = c3.gradient_terms(case)
    assert terms.grad_x.exp[0] < -1022  # ∇_x f is subnormal in float64 ...
    for claim in (c3.PER_LAYER, c3.SUMMED):
        result = claim.check(case, CheckContext())
        assert result.comparison.ratio == pytest.approx(1.0, abs=1e-13)  # ... and still exact
        assert claim.recheck(case, CheckContext()).comparison.ratio == pytest.approx(1.0, abs=1e-13)


def test_overflowing_head_scale_is_avoided():
    """A saturated last layer makes ∇_θ f tiny while ∇_h F = u is not: scaling f must not overflow."""
    case = _case((1, 1), "sigmoid", [[[-700.0]]], [[0.0]], [[1.0]], u=[10.0])  # sigmoid'(-700) ≈ 1e-304
    result = c3.SUMMED.check(case, CheckContext())
    assert result.comparison.ratio == pytest.approx(1.0, abs=1e-14)


def test_aligned_linear_network_is_an_equality():
    """Depth 1, identity, u = top left singular vector of W: equality for any W (CLAIMS C3)."""
    W = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, -1.0]])
    u = np.linalg.svd(W)[0][:, 0]
    case = _case((3, 2), "identity", [W], [[0.5, -1.0]], [[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]], u=u)
    assert c3.SUMMED.check(case, CheckContext()).comparison.ratio == pytest.approx(1.0, abs=1e-14)
    other = _case((3, 2), "identity", [W], [[0.5, -1.0]], [[1.0, 0.0, 2.0]], u=[1.0, 0.0])
    assert c3.SUMMED.check(other, CheckContext()).comparison.ratio < 0.99


def test_counterexample_json_replays():
    v = _run(c3.DOUBLED)
    case = MLPHeadCase.from_json(json.loads(json.dumps(v.counterexample["case"])))
    assert c3.DOUBLED.check(case, CheckContext()).comparison.status == "violated"


def test_same_seed_same_json():
    def doc(seed):
        d = json.loads(dump_verdicts([_run(c3.PER_LAYER, examples=15, seed=seed)]))["verdicts"][0]
        d.pop("elapsed_s")
        for step in d["symbolic"]["steps"]:
            step.pop("elapsed_s")
        return d

    assert doc(2) == doc(2)


# --------------------------------------------------------------------------- the symbolic part


def test_symbolic_steps_are_proved_and_counterexamples_exact():
    for kind in ("summed", "per-layer", "frobenius"):
        steps = sym.steps(kind)
        assert all(s.status == "proved" for s in steps), [(s.name, s.status) for s in steps]
    assert sym.no_bias_counterexample().status == "refuted"
    assert sym.doubled_counterexample().status == "refuted"


def _layer_norm_sq(net):
    return sp.Matrix([net.layer_grad_sq(t) for t in range(net.depth)])


@pytest.mark.parametrize("wrong", ["no-one", "no-slope", "wrong-transpose"])
def test_symbolic_identity_refutes_a_wrong_target(wrong):
    if wrong == "no-one":  # ‖∇_{W,b} f‖² = ‖δ‖²‖h‖² (the no-bias formula with biases present)
        no_one = lambda n: sp.Matrix([sym._norm_sq(n.deltas[t]) * sym._norm_sq(n.hs[t]) for t in range(n.depth)])
        step = sym.prove_on_networks("wrong", "", _layer_norm_sq, no_one)
    elif wrong == "no-slope":  # ∇_x f = W⁽¹⁾ᵀ W⁽²⁾ᵀ ... without the g' factors of the hidden layer
        step = sym.prove_on_networks("wrong", "", lambda n: n.grad(list(n.x)),
                                     lambda n: n.Ws[0].T * n.Ws[1].T * n.deltas[1], widths=[(2, 2, 1)])
    else:  # ∇_{W⁽ᵗ⁾} f = h δᵀ instead of δ hᵀ (square layers so that the shapes agree)
        step = sym.prove_on_networks("wrong", "", lambda n: n.grad(list(n.Ws[0])),
                                     lambda n: sp.Matrix(list(n.hs[0] * n.deltas[0].T)), widths=[(2, 2, 1)])
    assert step.status == "refuted", step.detail
    assert "at " in step.detail


def test_symbolic_spectral_bound_refutes_the_wrong_singular_vector():
    p, q, s1, s2 = sp.symbols("p q sigma_1 sigma_2", real=True)
    v = sp.Matrix(sp.symbols("v_0:2", real=True))
    U, V = sym._rotation(p), sym._rotation(q)
    A = U * sp.diag(s1, s2) * V.T
    lhs = s1**2 * sym._norm_sq(v) - sym._norm_sq(A * v)
    right = prove_identity(lhs, (s1**2 - s2**2) * (V[:, 1].T * v)[0] ** 2, name="right", statement="",
                           simplifier=lambda e: sp.cancel(sp.together(e)))
    wrong = prove_identity(lhs, (s1**2 - s2**2) * (V[:, 0].T * v)[0] ** 2, name="wrong", statement="",
                           simplifier=lambda e: sp.cancel(sp.together(e)))
    assert right.status == "proved"
    assert wrong.status == "refuted"
