"""C1: the softmax cross-entropy claims, and wrong formulas that must each be refuted."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from proofs.softmax_ce import claims as c1
from proofs.softmax_ce import numeric as num
from proofs.softmax_ce import symbolic as sym
from verify import SoftmaxBatch, prove_identity, run_claim
from verify.claims import VerdictKind

EXAMPLES = 40


def _run(claim, examples=EXAMPLES, **kw):
    return run_claim(claim, examples=examples, device="cpu", **kw)


def test_hessian_claim_is_proved():
    v = _run(c1.HESSIAN)
    assert v.verdict is VerdictKind.PROVED, v.message
    assert v.symbolic["proved"] and v.symbolic["sizes"].startswith("general")
    assert v.numeric["max_rel_err"] < 1e-13
    assert {"large-scale", "k-2", "width-1"} <= set(v.numeric["boundary_cases_hit"])


def test_convex_claim_is_proved():
    v = _run(c1.CONVEX)
    assert v.verdict is VerdictKind.PROVED, v.message


def test_smoothness_claim_finds_the_tight_case():
    v = _run(c1.SMOOTHNESS, examples=60)
    assert v.verdict is VerdictKind.PROVED, v.message
    assert v.numeric["tightest_ratio"] == pytest.approx(1.0, abs=1e-12)
    worst = SoftmaxBatch.from_json(v.numeric["worst_case"]["case"])
    assert worst.k == 2 and np.all(worst.W == 0)


@pytest.mark.parametrize("claim", [c1.DIAGONAL_BLOCKS, c1.BLOCK_DIAGONAL], ids=lambda c: c.id)
def test_seed_mistakes_are_refuted_with_counterexamples(claim):
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED and v.matches_expectation
    assert v.counterexample is not None and v.counterexample["recheck"]["status"] == "violated"
    assert any(s["status"] == "refuted" for s in v.symbolic["steps"])


def _wrong(kind):
    def formula(W, X):
        H = num.closed_form_hessian(W, X)
        k, d = W.shape
        if kind == "sign":
            return -H
        if kind == "factor-2":
            return 2 * H
        if kind == "missing-off-diagonal":
            return num.seed_block_diagonal(W, X)
        if kind == "transposed-kronecker":
            a = torch.softmax(X @ W.T, dim=-1)
            A = torch.diag_embed(a) - a[:, :, None] * a[:, None, :]
            xx = X[:, :, None] * X[:, None, :]
            return torch.stack([torch.kron(xx[i], A[i]) for i in range(X.shape[0])]).mean(0)
        raise AssertionError(kind)

    return formula


@pytest.mark.parametrize("kind", ["sign", "factor-2", "missing-off-diagonal", "transposed-kronecker"])
def test_wrong_formulas_are_refuted(kind):
    claim = c1.make_hessian_claim(_wrong(kind), claim_id=f"wrong-{kind}", statement="wrong")
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED, (kind, v.message)
    case = SoftmaxBatch.from_json(v.counterexample["case"])
    assert case.k >= 2


def test_closed_form_matches_autograd_at_huge_logits():
    W = torch.tensor([[1e3, -2e3], [0.0, 5e2], [-1e3, 1e3]], dtype=torch.float64)
    X = torch.tensor([[3.0, 1.0], [-2.0, 0.5]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    H = num.closed_form_hessian(W, X)
    assert torch.isfinite(H).all()
    torch.testing.assert_close(H, num.oracle_hessian(W, X, y), rtol=0, atol=1e-12)


def test_entry_form_step_refutes_a_wrong_target():
    """The symbolic step can fail: a wrong sign in the target is refuted at an exact point."""
    k, d, W, X = sym.k, sym.d, sym.W, sym.X
    ia, ib, ic, ie, y = sym.ia, sym.ib, sym.ic, sym.ie, sym.y
    loss = -sym._logit(y) + sp.log(sym._normalizer())
    entry = sp.diff(loss, W[ia, ib], W[ic, ie])
    softmax = lambda r: sp.exp(sym._logit(r)) / sym._normalizer()
    wrong = (sp.KroneckerDelta(ia, ic) + softmax(ic)) * softmax(ia) * X[ib] * X[ie]
    step = prove_identity(entry, wrong, name="wrong", statement="", spot_sizes=sym._SIZES, spot_checks=1,
                          simplifier=lambda e: sp.simplify(sym._to_probabilities(e)))
    assert step.status == "refuted"
    del k, d


def test_symbolic_steps_are_proved():
    for step in (sym.entry_form()[0], sym.kronecker_form(), sym.variance_form(), sym.null_direction(),
                 sym.two_class_curvature()):
        assert step.status == "proved", step


def test_same_seed_same_json_for_a_real_claim():
    import json

    from verify import dump_verdicts

    def doc(seed):
        d = json.loads(dump_verdicts([_run(c1.SMOOTHNESS, examples=15, seed=seed)]))["verdicts"][0]
        d.pop("elapsed_s")
        for step in d["symbolic"]["steps"]:
            step.pop("elapsed_s")
        return d

    assert doc(4) == doc(4)


def test_a_smaller_smoothness_constant_is_refuted():
    """The smoothness check can fail: M = ¼ λ_max(XᵀX/m) is refuted (at the tight case k = 2, W = 0)."""
    from verify import Claim

    def quarter_top_eigenvalue(X):
        return 0.25 * float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])

    claim = Claim(id="wrong-smoothness", statement="M/2", source="test", cases=c1.SMOOTHNESS.cases,
                  check=lambda case, ctx: num.smoothness_check(case, ctx, bound=quarter_top_eigenvalue),
                  recheck=lambda case, ctx: num.smoothness_recheck_dense(case, ctx, bound=quarter_top_eigenvalue),
                  relation="inequality")
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED
    assert v.counterexample["comparison"]["ratio"] > 1.0


def test_convexity_check_refutes_a_concave_function():
    """The PSD check can fail: the negated loss (concave) is refuted."""
    from verify import CaseResult, Claim, Tolerance, compare_leq, extreme_eigenvalue, hvp_operator

    def check(case, ctx):
        W, X, y = num.case_tensors(case, ctx)
        op = hvp_operator(lambda w: -num.mean_loss(X, y, case.k)(w), W.reshape(-1))
        lam_min = extreme_eigenvalue(op, W.numel(), "SA", dtype=ctx.dtype, device=ctx.device).value
        return CaseResult(compare_leq(-lam_min, 0.0, num.hessian_scale(X) * case.d,
                                      Tolerance(ctx.dtype, num.EIG_DEPTH)))

    v = _run(Claim(id="concave-is-convex", statement="-L convex", source="test", cases=c1.CONVEX.cases,
                   check=check, relation="inequality"))
    assert v.verdict is VerdictKind.REFUTED


def test_gram_mean_hessian_is_the_closed_form_and_autograd():
    """The Gram form (one GEMM) gives the entry form's mean Hessian, at huge logits and at k = 1 too."""
    gen = torch.Generator().manual_seed(0)
    for k, d, m, scale in ((3, 2, 5, 1.0), (1, 3, 2, 1.0), (4, 1, 1, 1.0), (3, 2, 4, 1e3), (10, 32, 256, 0.3)):
        W = torch.randn(k, d, dtype=torch.float64, generator=gen) * scale
        X = torch.randn(m, d, dtype=torch.float64, generator=gen)
        y = torch.randint(0, k, (m,), generator=gen)
        H = num.gram_mean_hessian(W, X)
        torch.testing.assert_close(H, num.closed_form_hessian(W, X), rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(H, num.oracle_hessian(W, X, y), rtol=1e-10, atol=1e-12 * (1 + scale))


def test_the_gram_form_as_a_claim_is_verified_and_a_wrong_one_refuted():
    def without_blocks(W, X):
        k, d = W.shape
        H = num.gram_mean_hessian(W, X)
        a = torch.softmax(X @ W.T, dim=-1)
        blocks = torch.einsum("ia,ib,ie->abe", a, X, X) / X.shape[0]
        return H - torch.block_diag(*blocks)

    assert _run(c1.make_hessian_claim(num.gram_mean_hessian, claim_id="gram", statement="gram")).verdict in (
        VerdictKind.VERIFIED, VerdictKind.PROVED)
    wrong = _run(c1.make_hessian_claim(without_blocks, claim_id="gram-wrong", statement="wrong"))
    assert wrong.verdict is VerdictKind.REFUTED, wrong.message


def test_gram_split_step_is_proved_and_refutes_a_wrong_factor():
    step, u = sym.gram_split()
    assert step.status == "proved", step.detail
    ar, xs = sym.GRAM_ARGS
    aa, ac, xb, xe, dac = sym.ENTRY_ARGS
    _, entry = sym.entry_form()
    wrong = dac * aa * xb * xe - (aa * xb) * (ac * xb)  # x_b where x_e belongs
    from verify import prove_identity

    assert prove_identity(entry, wrong, name="wrong-split", statement="wrong", spot_checks=2).status == "refuted"
