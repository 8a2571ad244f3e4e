"""TorchPrinter: every supported function against SymPy's own evaluation.

The core loop mirrors SymPy's ``test_torch.py``: lambdify, evaluate at random
points, compare with ``expr.subs(...).evalf()``. Tolerance: float64 with
rtol 1e-10, atol 1e-12 -- each case is a handful of correctly rounded (or
few-ulp) torch kernels, so errors are O(10 eps) = O(1e-15) relative; the margin
covers conditioning of composites (e.g. 1/cos near its pole) without hiding a
wrong formula, which errs at O(1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import sympy
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sympy.codegen.cfunctions import expm1, log1p, log2

from verify.bridge import TorchPrinter, to_torch
from verify.errors import BridgeError

X, Y, Z = sympy.symbols("x y z")
RTOL, ATOL = 1e-10, 1e-12
N_POINTS = 16

#: (id, expression, (low, high) for every input); domains keep SymPy real.
FUNCTION_CASES: list[tuple[str, sympy.Expr, tuple[float, float]]] = [
    ("exp-log", sympy.exp(X) * sympy.log(Y) + sympy.log(Z), (0.1, 3.0)),
    ("sqrt", sympy.sqrt(X) + sympy.sqrt(X * Y), (0.1, 3.0)),
    ("pow-int", X**3 - 2 * Y**2 + X * Y * Z, (-3.0, 3.0)),
    ("pow-negative", X**-3 + 1 / Y + Z**-2, (0.5, 3.0)),
    ("pow-rational", X ** sympy.Rational(2, 3) + Y ** sympy.Rational(-1, 2) + Z ** sympy.Rational(5, 2), (0.1, 3.0)),
    ("pow-symbolic", X**Y + (X + Z) ** (Y - Z) + 2**X, (0.1, 2.0)),
    ("rational", sympy.Rational(1, 3) * X + sympy.Rational(-7, 11) * Y + sympy.Rational(2, 7), (-2.0, 2.0)),
    ("pi-e", sympy.pi * X + sympy.E * Y + sympy.sqrt(2) - sympy.EulerGamma, (-2.0, 2.0)),
    ("trig", sympy.sin(X) * sympy.cos(Y) + sympy.tan(Z), (-1.2, 1.2)),
    ("inverse-trig", sympy.asin(X) + sympy.acos(Y) + sympy.atan(5 * Z), (-0.9, 0.9)),
    ("reciprocal-trig", sympy.sec(X) + sympy.csc(Y + 2) + sympy.cot(Z + 2), (-1.0, 1.0)),
    ("hyperbolic", sympy.sinh(X) + sympy.cosh(Y) * sympy.tanh(Z), (-3.0, 3.0)),
    ("inverse-hyperbolic", sympy.asinh(X) + sympy.acosh(Y + 4) + sympy.atanh(Z / 4), (-3.0, 3.0)),
    ("reciprocal-hyperbolic", sympy.sech(X) + sympy.csch(Y + 4) + sympy.coth(Z + 4), (-3.0, 3.0)),
    ("erf", sympy.erf(X) + sympy.erfc(Y) + sympy.erfinv(Z / 4), (-3.0, 3.0)),
    ("abs-sign", sympy.Abs(X) * sympy.sign(Y) + sympy.Abs(X - Z), (-2.0, 2.0)),
    ("max", sympy.Max(X, 0) + sympy.Max(X, Y, Z), (-2.0, 2.0)),
    ("min", sympy.Min(X, 0) + sympy.Min(X, Y, Z, sympy.Rational(1, 2)), (-2.0, 2.0)),
    ("relu-nested", sympy.Max(sympy.Max(X, 0) * Y - Z, 0), (-2.0, 2.0)),
    ("heaviside", sympy.Heaviside(X) + 2 * sympy.Heaviside(Y, 1) + sympy.Heaviside(Z, 0), (-2.0, 2.0)),
    ("heaviside-symbolic-h0", sympy.Heaviside(X, Y), (-2.0, 2.0)),
    ("piecewise", sympy.Piecewise((X, X > 0), (Y**2, Y > Z), (Z, True)), (-2.0, 2.0)),
    ("piecewise-and-or", sympy.Piecewise((X * Y, (X > 0) & (Y < 1)), (1, (Z > 1) | ~(X < -1)), (-3, True)),
     (-2.0, 2.0)),
    ("kronecker", sympy.KroneckerDelta(X, Y) * Z + sympy.KroneckerDelta(X, 1), (-2.0, 2.0)),
    ("softplus", sympy.log(1 + sympy.exp(X)) - sympy.log(1 + sympy.exp(-Y)), (-5.0, 5.0)),
    ("atan2", sympy.atan2(Y, X) + sympy.atan2(Z, 1), (-2.0, 2.0)),
    ("floor-ceiling-mod", sympy.floor(3 * X) + sympy.ceiling(Y) + sympy.Mod(Z, 2), (-2.0, 2.0)),
    ("codegen-cfunctions", log1p(X) + expm1(Y) + log2(Z + 3), (0.1, 2.0)),
    ("gamma-family", sympy.loggamma(X) + sympy.digamma(Y), (0.5, 3.0)),
    ("sigmoid", 1 / (1 + sympy.exp(-X)) * Y, (-4.0, 4.0)),
    # operator precedence: each would evaluate to something else with a missing parenthesis
    ("neg-quotient-of-sum", -Y / (X**2 + Y**2) + Z, (0.5, 2.0)),
    ("minus-reciprocal-of-sum", X - 1 / (Y + Z) - (X + Y) ** -3, (0.5, 2.0)),
    ("neg-sum-times", -(X + Y) * Z - (X - Y) / (Y + Z), (0.5, 2.0)),
    ("nested-powers", sympy.Pow(X, Y, evaluate=False) ** Z + X ** (Y**Z) + (X * Y) ** Z, (0.5, 2.0)),
    ("unary-minus-power", -(X**2) + (-X) ** 3 + X ** (-Y) + (-2) ** sympy.floor(3 * Y), (0.5, 2.0)),
    ("quotient-of-products", X / (Y * Z) + X / (Y + Z) ** 2 + (X / Y) ** Z, (0.5, 2.0)),
    ("negative-constant-factors", (1 - sympy.sqrt(2)) * X + sympy.cos(3) * Y - sympy.pi ** (-Z), (0.5, 2.0)),
]


def _points(low: float, high: float, seed: int) -> dict[sympy.Symbol, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {s: rng.uniform(low, high, N_POINTS) for s in (X, Y, Z)}


def _sympy_values(expr: sympy.Basic, points: dict[sympy.Symbol, np.ndarray]) -> list[float]:
    out = []
    for i in range(N_POINTS):
        value = expr.subs({s: sympy.Float(float(v[i]), 30) for s, v in points.items()}).evalf(30)
        out.append(float(value))
    return out


def _evaluate(expr: sympy.Basic, points: dict[sympy.Symbol, np.ndarray]) -> torch.Tensor:
    f = to_torch(expr, [X, Y, Z], cache=False)
    return f(*(torch.tensor(points[s], dtype=torch.float64) for s in (X, Y, Z)))


@pytest.mark.parametrize(("expr", "domain"), [c[1:] for c in FUNCTION_CASES], ids=[c[0] for c in FUNCTION_CASES])
def test_matches_sympy_at_random_points(expr: sympy.Expr, domain: tuple[float, float]) -> None:
    points = _points(*domain, seed=1234)
    got = _evaluate(expr, points)
    expected = torch.tensor(_sympy_values(expr, points), dtype=torch.float64)
    assert got.shape == (N_POINTS,)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=RTOL, atol=ATOL)


TIE_CASES: list[tuple[str, sympy.Basic, tuple[float, float, float], float]] = [
    ("max-at-zero", sympy.Max(X, 0), (0.0, 0.0, 0.0), 0.0),
    ("heaviside-default-half", sympy.Heaviside(X), (0.0, 0.0, 0.0), 0.5),
    ("heaviside-h0-one", sympy.Heaviside(X, 1), (0.0, 0.0, 0.0), 1.0),
    ("heaviside-h0-symbol", sympy.Heaviside(X, Y), (0.0, 0.25, 0.0), 0.25),
    ("kronecker-equal", sympy.KroneckerDelta(X, Y), (1.5, 1.5, 0.0), 1.0),
    ("kronecker-different", sympy.KroneckerDelta(X, Y), (1.5, 1.25, 0.0), 0.0),
    ("piecewise-boundary", sympy.Piecewise((X, X > 0), (Y, True)), (0.0, 7.0, 0.0), 7.0),
    ("piecewise-no-default", sympy.Piecewise((X, X > 0)), (-1.0, 0.0, 0.0), math.nan),
    ("pow-negative-base", (-2) ** X, (3.0, 0.0, 0.0), -8.0),
]


@pytest.mark.parametrize(("expr", "point", "expected"), [c[1:] for c in TIE_CASES], ids=[c[0] for c in TIE_CASES])
def test_boundary_values_follow_sympy(expr: sympy.Basic, point: tuple[float, float, float], expected: float) -> None:
    got = to_torch(expr, [X, Y, Z], cache=False)(*(torch.tensor(v, dtype=torch.float64) for v in point))
    subs = expr.subs(dict(zip((X, Y, Z), map(sympy.Float, point))))
    sympy_value = float(subs.evalf())
    assert (math.isnan(expected) and math.isnan(sympy_value)) or sympy_value == expected
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), equal_nan=True)


RX, RY, RZ = sympy.symbols("x y z", real=True)  # real, so that diff(Abs(x)) is sign(x)


def _grad(expr: sympy.Expr, wrt: sympy.Symbol, values: dict[sympy.Symbol, torch.Tensor]) -> torch.Tensor:
    inputs = {s: v.clone().requires_grad_(True) for s, v in values.items()}
    out = to_torch(expr, [RX, RY, RZ], cache=False)(*(inputs[s] for s in (RX, RY, RZ)))
    (grad,) = torch.autograd.grad(out.sum(), inputs[wrt], allow_unused=True)
    return torch.zeros_like(values[wrt]) if grad is None else grad


@pytest.mark.parametrize(
    "expr",
    [
        sympy.Max(RX, 0) * RY + sympy.Heaviside(RX) * RY**2,
        sympy.Min(RX, RY, 1) * RZ,
        sympy.Piecewise((RX**2 * RY, RX > 0), (sympy.exp(RY) * RX, True)),
        sympy.Abs(RX) * sympy.sign(RY) + sympy.atan2(RY, RX) + sympy.Heaviside(RX, 1) * RZ,
        sympy.exp(RX) * sympy.log(RY**2 + 1) / (1 + RZ**2),
    ],
    ids=["relu-heaviside", "min", "piecewise", "abs-sign-atan2", "smooth"],
)
def test_autograd_matches_sympy_derivative(expr: sympy.Expr) -> None:
    """Away from kinks, torch.autograd of the generated code equals sympy.diff."""
    rng = np.random.default_rng(7)
    values = {s: torch.tensor(rng.uniform(-2, 2, 12), dtype=torch.float64) for s in (RX, RY, RZ)}
    for wrt in (RX, RY, RZ):
        # DiracDelta (from d/dx Heaviside) is 0 away from the kink, where the points lie
        derivative = sympy.diff(expr, wrt).replace(sympy.DiracDelta, lambda *args: 0)
        expected = to_torch(derivative, [RX, RY, RZ], cache=False)(*(values[s] for s in (RX, RY, RZ)))
        torch.testing.assert_close(_grad(expr, wrt, values), expected, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- printed text
def test_rational_and_number_symbols_print_as_full_precision_literals() -> None:
    printer = TorchPrinter()
    assert printer.doprint(sympy.Rational(1, 3)) == repr(1 / 3)
    assert printer.doprint(sympy.pi) == repr(math.pi)
    assert printer.doprint(sympy.E * X) == f"{math.e!r}*x"
    assert repr(math.sqrt(2)) in printer.doprint(sympy.sqrt(2) * X)
    assert float(eval(printer.doprint(sympy.Rational(10**20 + 1, 3 * 10**20)))) == (10**20 + 1) / (3 * 10**20)


def test_non_smooth_functions_print_as_torch_calls() -> None:
    printer = TorchPrinter()
    assert printer.doprint(sympy.Max(X, Y, Z)) == "torch.maximum(torch.maximum(x, y), z)"
    assert printer.doprint(sympy.Min(X, Y)) == "torch.minimum(x, y)"
    assert "torch.maximum" in printer.doprint(sympy.Max(X, 0))
    assert printer.doprint(sympy.Heaviside(X)).startswith("torch.heaviside((x).detach(), torch.tensor(0.5")
    assert printer.doprint(sympy.Piecewise((X, X > 0), (Y, True))) == "torch.where((x > 0), x, y)"
    assert printer.doprint(sympy.KroneckerDelta(X, Y)).startswith("torch.where(x == y, ")


def test_negative_literals_are_parenthesized() -> None:
    printer = TorchPrinter()
    assert printer.doprint((-2) ** X) == "(-2)**x"
    assert printer.doprint(X**-2) == "x**(-2)"
    assert printer.doprint(sympy.Pow(X, Y, evaluate=False) ** Z) == "(x**y)**z"


def test_symbol_names_setting_renames_symbols() -> None:
    weird = sympy.Symbol("w_{1}")
    printer = TorchPrinter({"symbol_names": {weird: "_s0"}})
    assert printer.doprint(weird * X) == "_s0*x"
    with pytest.raises(BridgeError, match="not a Python identifier"):
        TorchPrinter().doprint(weird)


def test_supported_lists_function_and_structural_nodes() -> None:
    supported = TorchPrinter.supported()
    for name in ("exp", "Max", "Heaviside", "Piecewise", "KroneckerDelta", "Pow", "MatrixBase", "erf"):
        assert name in supported


UNSUPPORTED_CASES: list[tuple[str, Callable[[], sympy.Basic], str]] = [
    ("derivative", lambda: sympy.Derivative(sympy.Function("g")(X), X), r"Derivative.*\.doit\(\)"),
    ("sum", lambda: sympy.Sum(X**Z, (Z, 0, Y)), r"Sum.*\.doit\(\)"),
    ("undefined-function", lambda: sympy.Function("g")(X) + 1, r"undefined function \(g\).*subs"),
    ("matrix-symbol", lambda: sympy.MatrixSymbol("A", 2, 2)[0, 1] * X, r"MatrixElement.*as_explicit"),
    ("gamma", lambda: sympy.gamma(X), r"gamma.*loggamma"),
    ("dirac-delta", lambda: sympy.diff(sympy.Heaviside(X), X), r"DiracDelta.*replace\(sympy.DiracDelta"),
    ("sinc", lambda: sympy.sinc(X), r"sinc.*rewrite\(sin\)"),
    ("generic", lambda: sympy.besselj(0, X), r"besselj.*supported: .*Heaviside"),
]


@pytest.mark.parametrize(("build", "pattern"), [c[1:] for c in UNSUPPORTED_CASES],
                         ids=[c[0] for c in UNSUPPORTED_CASES])
def test_unsupported_nodes_raise_with_a_hint(build: Callable[[], sympy.Basic], pattern: str) -> None:
    with pytest.raises(BridgeError, match=pattern) as info:
        TorchPrinter().doprint(build())
    assert "'strict': False" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_strict_mode_gives_partial_output() -> None:
    expr = sympy.exp(sympy.Derivative(sympy.Function("g")(X), X)) + Y
    code = TorchPrinter({"strict": False}).doprint(expr)
    assert "torch.exp(Derivative(g(x), x))" in code


@pytest.mark.parametrize("expr", [sympy.I * X, sympy.sqrt(-2) + X, X + sympy.zoo],
                         ids=["imaginary-unit", "complex-constant", "complex-infinity"])
def test_complex_constants_are_refused(expr: sympy.Expr) -> None:
    with pytest.raises(BridgeError, match="real"):
        TorchPrinter().doprint(expr)


def test_boolean_expression_gives_a_bool_tensor() -> None:
    f = to_torch((X > Y) & sympy.Ne(Z, 0), [X, Y, Z], cache=False)
    out = f(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
    assert out.dtype == torch.bool
    assert out.tolist() == [True, False]


# ------------------------------------------------- random expression trees
def _expressions() -> st.SearchStrategy[sympy.Expr]:
    """Random trees over x, y, z that stay real and finite on [0.5, 2]^3.

    They exercise operator precedence and parenthesization (negative
    coefficients, nested powers, quotients of sums), where a printer bug gives
    an O(1) error rather than round-off.
    """
    leaves = st.one_of(
        st.sampled_from([X, Y, Z]),
        st.integers(-3, 3).map(sympy.Integer),
        st.tuples(st.integers(-5, 5), st.integers(1, 4)).map(lambda pq: sympy.Rational(*pq)),
    )

    def extend(children: st.SearchStrategy[sympy.Expr]) -> st.SearchStrategy[sympy.Expr]:
        pair = st.tuples(children, children)
        return st.one_of(
            pair.map(lambda ab: ab[0] + ab[1]),
            pair.map(lambda ab: ab[0] - ab[1]),
            pair.map(lambda ab: ab[0] * ab[1]),
            pair.map(lambda ab: ab[0] / (ab[1] ** 2 + 1)),
            children.map(lambda a: -a),
            st.tuples(children, st.integers(-2, 3)).map(lambda ae: (ae[0] ** 2 + 1) ** ae[1]),
            children.map(lambda a: sympy.sqrt(a**2 + 1)),
            children.map(lambda a: (a**2 + 1) ** sympy.Rational(-3, 2)),
            children.map(sympy.sin),
            children.map(sympy.tanh),
            children.map(sympy.Abs),
            pair.map(lambda ab: sympy.Max(ab[0], ab[1])),
            pair.map(lambda ab: sympy.Min(ab[0], ab[1], 0)),
            st.tuples(children, children, children).map(
                lambda abc: sympy.Piecewise((abc[0], abc[1] > abc[2]), (abc[2], True))),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(expr=_expressions())
def test_random_expression_trees_match_sympy(expr: sympy.Expr) -> None:
    points = _points(0.5, 2.0, seed=99)
    expected = torch.tensor(_sympy_values(expr, points), dtype=torch.float64)
    assume(bool(torch.isfinite(expected).all()) and float(expected.abs().max()) < 1e6)
    got = _evaluate(expr, points)
    # round-off grows with the intermediate magnitudes (< 1e6 here): atol 1e-9 covers it
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-9)
