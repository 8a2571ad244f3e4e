"""Establish one symbolic step: ``simplify`` plus exact spot checks, never ``simplify`` alone.

:func:`prove_identity` returns a :class:`~verify.claims.SymbolicStep` whose status is

* ``proved`` — ``simplify(lhs - rhs) == 0`` *and* the difference vanishes at random
  exact rational points (evaluated exactly, or with mpmath at ``prec`` digits when
  transcendental functions appear);
* ``checked`` — SymPy could not simplify the difference to 0, but every spot check
  vanished (established numerically only);
* ``refuted`` — some spot check does not vanish: the step is false, and the point is
  recorded as an exact counterexample.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sympy as sp

from verify.claims import SymbolicStep
from verify.errors import InvalidInputError

__all__ = ["find_unevaluated", "in_range", "prove_identity", "random_rational", "spot_values"]

_UNEVALUATED = (sp.Derivative, sp.Integral, sp.Subs)


def find_unevaluated(expr: Any) -> list[Any]:
    """Unevaluated ``Derivative``/``Integral``/``Subs`` nodes left in ``expr``.

    SymPy's matrix calculus can leave these behind; printed to torch they become
    autograd calls, which would make "symbolic vs autograd" compare autograd with itself.
    """
    if isinstance(expr, sp.MatrixBase):
        return [node for entry in expr for node in find_unevaluated(entry)]
    return [node for node in sp.preorder_traversal(expr) if isinstance(node, _UNEVALUATED)]


def in_range(expr: sp.Expr) -> sp.Expr:
    """Take the in-range branch of the ``Piecewise`` that ``Sum(KroneckerDelta)`` produces.

    ``Sum(KroneckerDelta(b, l) x[l], (l, 0, d - 1)).doit()`` gives
    ``Piecewise((x[b], (b >= 0) & (b <= d - 1)), (0, True))``. Under the hypothesis
    that every free index lies in its range, the first branch is the value.
    """

    def is_range_piecewise(node: Any) -> bool:
        return (isinstance(node, sp.Piecewise) and len(node.args) == 2
                and node.args[1].cond == sp.true and node.args[1].expr == 0)

    return expr.replace(is_range_piecewise, lambda node: node.args[0].expr)


def random_rational(rng: random.Random, *, nonzero: bool = False) -> sp.Rational:
    """A small random rational p/q with |p| ≤ 9, 1 ≤ q ≤ 7 (exact, for spot checks)."""
    while True:
        value = sp.Rational(rng.randint(-9, 9), rng.randint(1, 7))
        if value != 0 or not nonzero:
            return value


def spot_values(expr: Any, rng: random.Random, fixed: Mapping[Any, Any] | None = None) -> dict[Any, Any]:
    """Random exact rationals for every free ``Symbol`` and ``Indexed`` in ``expr``."""
    fixed = dict(fixed or {})
    atoms = set(expr.atoms(sp.Indexed)) | {s for s in expr.free_symbols if isinstance(s, sp.Symbol)}
    values: dict[Any, Any] = {}
    for atom in sorted(atoms, key=sp.default_sort_key):
        if atom in fixed:
            values[atom] = fixed[atom]
        elif isinstance(atom, sp.Symbol) and atom.is_positive:
            values[atom] = abs(random_rational(rng, nonzero=True))
        else:
            values[atom] = random_rational(rng)
    return values


def _vanishes(value: Any, prec: int) -> tuple[bool, str]:
    value = sp.nsimplify(value) if isinstance(value, float) else value
    if isinstance(value, sp.MatrixBase):
        results = [_vanishes(v, prec) for v in value]
        bad = [text for ok, text in results if not ok]
        return (not bad, bad[0] if bad else "0")
    value = sp.sympify(value)
    if value.is_Rational:
        return value == 0, str(value)
    numeric = sp.N(value, prec)
    if not numeric.is_number:
        raise InvalidInputError(
            f"A spot check left free symbols {sorted(map(str, numeric.free_symbols))}; "
            "pass values for them in `fixed=` or sizes in `sizes=`."
        )
    return abs(numeric) < sp.Float(10) ** (-(prec - 10)), sp.sstr(sp.N(value, 12))


def prove_identity(
    lhs: Any,
    rhs: Any,
    *,
    name: str,
    statement: str,
    sizes: str = "general",
    spot_sizes: Iterable[Mapping[Any, int]] = (),
    fixed: Mapping[Any, Any] | None = None,
    constraint: Any = None,
    spot_checks: int = 4,
    seed: int = 0,
    prec: int = 50,
    simplifier: Any = sp.simplify,
) -> SymbolicStep:
    """Prove ``lhs = rhs`` (scalars or matrices) and return the step.

    Args:
        lhs, rhs: SymPy expressions or matrices.
        name: step identifier. statement: LaTeX of the step.
        sizes: ``general`` or the concrete sizes the identity is stated for.
        spot_sizes: for general-size statements (symbolic bounds ``k``, ``d`` …),
            concrete sizes to substitute before the spot checks, e.g. ``[{k: 3, d: 2}]``.
        fixed: values for symbols that must not be random (e.g. indices in range).
        constraint: ``(symbol, expression)`` eliminating one variable before the
            spot check (e.g. ``(a_k, 1 - sum(others))`` for points on the simplex).
        spot_checks: random exact points per size.
        seed: seed of the points. prec: mpmath digits when values are transcendental.
        simplifier: the SymPy simplification applied to ``lhs - rhs``.

    Returns:
        The step, with status ``proved``, ``checked`` or ``refuted`` (see module doc).
    """
    start = time.perf_counter()
    diff = sp.Matrix(lhs) - sp.Matrix(rhs) if isinstance(lhs, sp.MatrixBase) else sp.sympify(lhs - rhs)
    leftovers = find_unevaluated(diff)
    if leftovers:
        raise InvalidInputError(
            f"Step {name!r} still holds unevaluated {type(leftovers[0]).__name__} nodes; call .doit() first."
        )
    if constraint is not None:
        diff = diff.subs(constraint[0], constraint[1])
    simplified = diff.applyfunc(simplifier) if isinstance(diff, sp.MatrixBase) else simplifier(diff)
    is_zero = (all(e == 0 for e in simplified) if isinstance(simplified, sp.MatrixBase) else simplified == 0)
    rng = random.Random(seed)
    size_list = list(spot_sizes) or [{}]
    checks = 0
    for size in size_list:
        concrete = diff.subs(size).doit() if size else diff
        if isinstance(concrete, sp.Expr):
            concrete = in_range(concrete)
        for _ in range(spot_checks):
            point = spot_values(concrete, rng, fixed)
            ok, value = _vanishes(concrete.subs(point), prec)
            checks += 1
            if not ok:
                where = ", ".join(f"{k}={v}" for k, v in point.items())
                return SymbolicStep(name, statement, "refuted", sizes,
                                    f"lhs - rhs = {value} at {where}" + (f" (sizes {dict(size)})" if size else ""),
                                    time.perf_counter() - start)
    size_note = f" at sizes {[dict(s) for s in size_list]}" if spot_sizes else ""
    if is_zero:
        detail = f"simplify(lhs - rhs) = 0; {checks} exact spot checks{size_note} vanish"
        return SymbolicStep(name, statement, "proved", sizes, detail, time.perf_counter() - start)
    detail = (f"SymPy could not simplify lhs - rhs to 0; {checks} exact spot checks{size_note} vanish "
              "(established numerically only)")
    return SymbolicStep(name, statement, "checked", sizes, detail, time.perf_counter() - start)
