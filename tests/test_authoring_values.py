"""What a user claim's sides return decides how they are compared: the tolerance's dtype is the precision they
were computed in (a Python float is float64 under ``--dtype float32`` too), and complex values are compared
only when the claim says so (their imaginary part was once dropped with a torch warning)."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pytest
import torch

import verify
from verify.errors import ClaimDefinitionError

COS_SIDES = {
    "python-float": lambda x: math.cos(x),
    "numpy-float64": lambda x: np.cos(np.float64(x)),
    "float64-tensor": lambda x: torch.cos(torch.tensor(x, dtype=torch.float64)),
}


@pytest.mark.parametrize("side", COS_SIDES, ids=str)
@pytest.mark.parametrize("cases", [st.floats(-1, 1), verify.vectors(1).map(lambda v: float(v[0]))],
                         ids=["floats", "vectors"])
def test_a_float64_side_gets_float64_tolerance_in_a_float32_run(side, cases):
    claim = verify.inequality("cos-le", statement=r"\cos x \le 0.9999", cases=cases, lhs=COS_SIDES[side],
                              rhs=lambda x: 0.9999)
    verdict = verify.run_claim(claim, dtype="float32")
    assert verdict.verdict.value == "refuted", verdict.message
    assert "eps(float64)" in verdict.numeric["tolerance"]


def test_a_float32_computation_still_gets_float32_tolerance():
    def cos32(x, ctx):
        return torch.cos(torch.tensor(x, dtype=getattr(torch, ctx.dtype)))

    claim = verify.inequality("cos-le-32", statement=r"\cos x \le 0.9999", cases=st.floats(-1, 1), lhs=cos32,
                              rhs=lambda x: 0.9999)
    verdict = verify.run_claim(claim, dtype="float32")  # 1e-4 is below float32's 1024·eps·scale: no violation
    assert verdict.verdict.value == "verified", verdict.message
    assert "eps(float32)" in verdict.numeric["tolerance"]


def test_the_tolerance_dtype_of_mixed_sides():
    from verify.authoring import _tolerance_dtype
    from verify.claims import CheckContext

    f32, f64 = CheckContext(dtype="float32"), CheckContext(dtype="float64")
    t32, t64 = torch.ones((), dtype=torch.float32), torch.ones((), dtype=torch.float64)
    assert _tolerance_dtype(1.0, 0.5, f32) == "float64"
    assert _tolerance_dtype(np.float64(1.0), 2, f32) == "float64"
    assert _tolerance_dtype(t32, 0.5, f32) == "float32"  # the coarser, when the run asks for it
    assert _tolerance_dtype(t32, t64, f32) == "float32"
    assert _tolerance_dtype(t32, t32, f64) == "float32"
    assert _tolerance_dtype(t32, 0.5, f64) == "float64"  # a float32 constant does not loosen a float64 run
    assert _tolerance_dtype(np.ones(2, np.float32), [0.5, 1.0], f32) == "float32"
    assert _tolerance_dtype(torch.ones(2, dtype=torch.complex64), 1, f32) == "float32"
    assert _tolerance_dtype(1, torch.ones(2, dtype=torch.int64), f32) == "float64"  # exact: float64


def _complex_identity(**kwargs):
    return verify.identity("complex-eq", statement="z = w", cases=st.just(0), lhs=lambda z: np.array([0.5 + 2j]),
                           rhs=lambda z: np.array([0.5]), **kwargs)


@pytest.mark.filterwarnings("ignore")  # as in `verify check`, where torch's "discards the imaginary part" is no error
def test_complex_sides_of_an_identity_are_an_error_naming_the_side():
    verdict = verify.run_claim(_complex_identity(), examples=3)
    assert verdict.verdict.value == "error"
    assert "lhs" in verdict.message and "complex numbers are not compared" in verdict.message
    assert "complex_values=True" in verdict.message
    tensor_rhs = verify.identity("complex-rhs", statement="x = z", cases=st.floats(0, 1), lhs=lambda x: x,
                                 rhs=lambda x: torch.tensor(x, dtype=torch.complex128))
    verdict = verify.run_claim(tensor_rhs, examples=3)
    assert verdict.verdict.value == "error" and "rhs" in verdict.message and "complex" in verdict.message


def test_complex_values_opt_in_compares_real_and_imaginary_parts():
    verdict = verify.run_claim(_complex_identity(complex_values=True), examples=3)
    assert verdict.verdict.value == "refuted"
    assert verdict.counterexample["comparison"]["abs_err"] == pytest.approx(2.0)
    assert verdict.counterexample["details"]["lhs_complex"] == [0.5, 2.0]
    euler = verify.identity("euler", statement=r"e^{ix} = \cos x + i \sin x", cases=st.floats(-4, 4),
                            lhs=lambda x: torch.exp(torch.tensor(1j * x, dtype=torch.complex128)),
                            rhs=lambda x: complex(math.cos(x), math.sin(x)), complex_values=True)
    assert verify.run_claim(euler).verdict.value == "verified"
    conj = verify.identity("conj", statement=r"e^{ix} = \cos x - i \sin x", cases=st.floats(-4, 4),
                           lhs=lambda x: np.exp(1j * x), rhs=lambda x: complex(math.cos(x), -math.sin(x)),
                           complex_values=True)
    assert verify.run_claim(conj).verdict.value == "refuted"
    with pytest.raises(ClaimDefinitionError, match="complex_values"):
        _complex_identity(complex_values="yes")


@pytest.mark.parametrize("side", [lambda x: 0.5 + 2j, lambda x: np.complex128(0.5), lambda x: torch.tensor(1 + 0j)],
                         ids=["python", "numpy", "tensor"])
def test_complex_sides_of_an_inequality_are_always_an_error(side):
    claim = verify.inequality("complex-le", statement="z \\le 1", cases=st.just(0), lhs=side, rhs=lambda z: 1.0)
    verdict = verify.run_claim(claim, examples=3)
    assert verdict.verdict.value == "error"
    assert "lhs" in verdict.message and "complex numbers are not compared" in verdict.message


def test_the_cli_shows_complex_sides_of_a_counterexample(tmp_path):
    import io

    from verify.cli import main

    (tmp_path / "mine.py").write_text(
        "import numpy as np, hypothesis.strategies as st, verify\n"
        "cx = verify.identity('cx', statement='z = w', cases=st.just(0), lhs=lambda z: np.array([0.5 + 2j]),\n"
        "                     rhs=lambda z: np.array([0.5]), complex_values=True)\n")
    out = io.StringIO()
    main(["check", f"{tmp_path / 'mine.py'}::cx", "--examples", "3"], out=out, err=io.StringIO())
    assert "lhs = 0.5+2j, rhs = 0.5+0j, violation 2 " in out.getvalue()
