"""C3 for convolutions: the torch and mpmath routes agree, the transplanted MLP statement is refuted for the
reasons docs/claims.md#c3-conv gives, the statement with patches holds, is the MLP one at P = 1, and a wrong
variant of it is refuted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, seed, settings

from proofs.gradient_inequality import FAMILY
from proofs.gradient_inequality.conv import conv_terms, conv_terms_mp
from proofs.gradient_inequality.conv_claims import PATCHES, conv_cases, judge_conv
from verify import CaseResult, ModuleCase, run_claim

KEYS = ("gx_sq", "gtheta_sq", "h_sq", "a_sq", "j_sq", "sigma_sq")


def _cnn(x: np.ndarray, kernel: np.ndarray, head: np.ndarray, size: int, activation: str = "tanh",
         padding: int = 0) -> ModuleCase:
    c_out, c_in, k, _ = kernel.shape
    spec = {"in_channels": c_in, "size": size, "channels": (c_out,), "kernel": k, "padding": padding,
            "activation": activation, "classes": head.shape[0]}
    params = (("0.weight", kernel), ("0.bias", np.zeros(c_out)), ("3.weight", head),
              ("3.bias", np.zeros(head.shape[0])))
    return ModuleCase(arch="cnn", spec=spec, params=params, x=x, y=np.zeros(x.shape[0], dtype=np.int64))


def _some_cases(n: int) -> list[ModuleCase]:
    seen: list[ModuleCase] = []

    @seed(1)
    @settings(max_examples=n, database=None, deadline=None, derandomize=False)
    @given(conv_cases())
    def record(case):
        seen.append(case)

    record()
    return seen


def test_torch_and_mpmath_routes_agree():
    for case in _some_cases(12):
        a, b = conv_terms(case), conv_terms_mp(case)
        for key in KEYS:
            x, y = getattr(a, key), getattr(b, key)
            assert np.allclose(x, y, rtol=1e-9, atol=1e-12 * (1 + np.abs(y).max())), (key, case.describe())


def test_cancellation_between_positions_refutes_the_transplanted_statement():
    """An image constant over 4 positions, head weights +1, −1: ∇_{K,b} f = 0 exactly, ∇ₓ f ≠ 0."""
    case = _cnn(np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)), np.array([[1.0, -1.0, 0.0, 0.0], [0.0] * 4]), size=2)
    for terms in (conv_terms(case), conv_terms_mp(case)):
        assert terms.gtheta_sq[0, 0] == 0.0 and terms.gx_sq[0] > 0.01
        comparison, _ = judge_conv(terms, "per-layer", "float64")
        assert comparison.status == "violated"
        assert judge_conv(terms, "patches", "float64")[0].status == "holds"  # σ_P = 0: (b) says nothing here


def test_at_one_position_the_patch_statement_is_the_mlp_one():
    """Kernel covering the whole image (P = 1): σ_1(Ũ)² = 1 + ‖h‖², so (b) and (a) coincide and both hold."""
    rng = np.random.default_rng(0)
    case = _cnn(rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((2, 3)), 3)
    terms = conv_terms(case)
    assert np.allclose(terms.sigma_sq, 1.0 + terms.h_sq, rtol=1e-12)
    for form in ("per-layer", "patches"):
        assert judge_conv(terms, form, "float64")[0].status == "holds"


def _doubled_patches_check(case, ctx) -> CaseResult:
    terms = conv_terms(case, ctx.dtype, ctx.device)
    comparison, details = judge_conv(dataclasses.replace(terms, gx_sq=2.0 * terms.gx_sq), "patches", ctx.dtype)
    return CaseResult(comparison, (), details)


def test_the_patch_claim_can_fail_twice_its_left_side_is_refuted():
    doubled = dataclasses.replace(PATCHES, id="conv-patches-doubled", expected="refuted", symbolic=None,
                                  check=_doubled_patches_check, recheck=None)
    verdict = run_claim(doubled, examples=100, seed=0)
    assert verdict.verdict.value == "refuted", verdict.message


@pytest.mark.parametrize("claim_id, expected", [("conv-gradient-inequality", "refuted"),
                                                ("conv-gradient-inequality-per-layer", "refuted"),
                                                ("conv-gradient-inequality-patches", "verified")])
def test_the_claims_verdicts_and_evidence(claim_id, expected):
    claim = next(c for c in __import__("proofs.gradient_inequality", fromlist=["CLAIMS"]).CLAIMS if c.id == claim_id)
    assert claim.family == FAMILY.key
    verdict = run_claim(claim, examples=100, seed=0)
    assert verdict.verdict.value == expected, verdict.message
    hit = set(verdict.numeric["boundary_cases_hit"])
    assert {"cnn", "tied-positions", "one-position", "width-1", "single-example"} <= hit
    if expected == "refuted":
        assert "conv_mpmath_recheck" in verdict.message
        assert verdict.counterexample["recheck"]
    else:
        assert verdict.numeric["tightest_ratio"] == pytest.approx(1.0, abs=1e-9)  # P = 1: equality cases
        assert "patches-full-rank" in hit
