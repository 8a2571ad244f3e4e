"""Mutation operators, and the sites of a claim they act on.

A *site* is one formula a built-in claim passes to its check: a SymPy expression that the family
lambdifies (the softmax Hessian entry, the optimizer update rules, ...) or one the bench writes down
for a formula the family passes as a plain function (the descent bound, C3's numerator), or a torch/numpy
function whose output a wrapper changes. :func:`mutations` applies every operator of :data:`OPERATORS`
to a site and returns the mutated formulas, each with the reason when it is excluded (shown
equivalent, or weaker than a true inequality, or the same formula as an earlier mutant).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
import torch
from sympy.functions.elementary.piecewise import ExprCondPair

#: the operators, in the order they are applied to a site (the committed list, bench/mutants.md)
OPERATORS: dict[str, str] = {
    "scale-output": "the formula's value times 1 + δ (an identity) or 1 ± δ (a side of an inequality), "
                    "δ ∈ {1e-2, 1e-3, 1e-4}: a constant off by 1 %, 0.1 %, 0.01 %",
    "wrong-factor": "the formula's value times 2 or ½",
    "scale-constant": "one numeric constant of a SymPy expression (not an exponent) times 1 + δ, or 1 ± δ on a "
                      "side of an inequality, δ ∈ {1e-2, 1e-3, 1e-4}",
    "drop-term": "one term of a sum left out (SymPy)",
    "swap-sign": "one term of a sum with the opposite sign (SymPy)",
    "exponent": "an exponent e replaced by 2e or e/2 (SymPy; x⁻¹ → x⁻², x^(-1/2); √x → x, x^(1/4))",
    "entry-offset": "a vector/matrix formula: its first entry plus δ·max|entries|, δ ∈ {1e-2, 1e-4}",
    "alternative": "a listed wrong formula of the same shape (another norm, axis or Kronecker order)",
    "boundary-only": "the site's boundary mutation (its value × 1.01, or the listed one) on the cases whose check "
                     "result carries one listed boundary tag, the formula unmutated elsewhere",
}

DELTAS = (sp.Rational(1, 100), sp.Rational(1, 1000), sp.Rational(1, 10000))
OFFSETS = (1e-2, 1e-4)


@dataclass
class Site:
    """One formula of a claim that the operators mutate.

    Attributes:
        claim: the id of the built-in claim (expected ``holds``).
        name: the site's name (``entry``, ``bound``, ``numerator`` ...).
        checks: formula ↦ (check, recheck) of the claim with that formula (recheck None: the claim has none).
        role: ``equal`` (an identity), ``upper`` (a larger value makes the claim weaker), ``lower`` (a smaller one).
        exprs: SymPy sites: the expressions (several for a family of update rules).
        compile: SymPy sites: the xreplace mapping of a mutation ↦ the formula the check takes.
        formula: function sites: the formula itself (and, for SymPy sites, built from the empty mapping).
        outputs: SymPy sites: the expressions whose value ``scale-output`` scales (default: ``exprs``).
        output: SymPy sites: (expression, factor) ↦ the expression whose value is scaled (default ``e·factor``).
        nonneg: the formula's value is ≥ 0 (so scaling it up or down is a weaker claim in one direction).
        vector: the value is a tensor or array (``entry-offset`` applies).
        fixed: substitutions that hold on every case of the claim (equivalence is judged with them).
        tags: boundary tags for ``boundary-only``.
        boundary: the factor of ``scale-output`` used on the tagged cases, or a function formula ↦ mutated formula.
        scale_equivalent: function sites: why scaling the value gives an equivalent claim ("" when it does not).
        alternatives: (name, formula) pairs for ``alternative``.
        equivalent: a site-specific proof: the mutated expression(s) ↦ a reason they are equivalent, or "".
        boundary_equivalent: boundary tag ↦ why ``boundary-only`` on that tag cannot change a verdict (the
            formula's value does not enter the judgement of those cases).
        doc: what the site is, for the list.
    """

    claim: str
    name: str
    checks: Callable[[Any], tuple[Any, Any]]
    role: str = "equal"
    exprs: tuple[sp.Expr, ...] = ()
    compile: Callable[[dict], Any] | None = None
    formula: Any = None
    outputs: tuple[sp.Expr, ...] | None = None
    output: Callable[[sp.Expr, sp.Expr], sp.Expr] | None = None
    scale_equivalent: str = ""
    nonneg: bool = False
    vector: bool = False
    fixed: dict = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    boundary: Any = sp.Rational(101, 100)
    alternatives: tuple[tuple[str, Any], ...] = ()
    equivalent: Callable[[list[sp.Expr]], str] | None = None
    boundary_equivalent: dict[str, str] = field(default_factory=dict)
    doc: str = ""


@dataclass
class Mutation:
    """One mutated formula of a site (built lazily), with the reason when it is excluded (proved lazily)."""

    site: Site
    op: str
    detail: str
    make: Callable[[], Any]
    why: Callable[[], str] | str = ""
    boundary_tag: str = ""
    key: str = ""
    duplicate_of: Mutation | None = None

    @property
    def excluded(self) -> str:
        """Why the mutant is left out ("" when it is not): equivalent, or weaker than the true claim."""
        if callable(self.why):
            self.why = self.why()
        return self.why


# --------------------------------------------------------------------------- SymPy sites


def _walk(expr: sp.Basic, out: list[sp.Basic]) -> None:
    """Every sub-expression once (preorder), leaving out Piecewise conditions."""
    if isinstance(expr, (sp.logic.boolalg.Boolean, sp.core.relational.Relational)):
        return
    if expr not in out:
        out.append(expr)
    for arg in expr.args:
        _walk(arg, out)


def _text(e: sp.Basic) -> str:
    return sp.sstr(e).replace("**", "^")


def _sympy_edits(site: Site) -> list[tuple[str, str, dict]]:
    """(operator, description, xreplace mapping) for the structural operators on every sub-expression."""
    nodes: list[sp.Basic] = []
    for e in site.exprs:
        _walk(e, nodes)
    edits: list[tuple[str, str, dict]] = []
    for node in nodes:
        if isinstance(node, sp.Pow) or not node.args:
            continue
        for i, arg in enumerate(node.args):
            if isinstance(arg, sp.Number) and arg != 0 and not isinstance(node, (sp.Piecewise, ExprCondPair)):
                for d in DELTAS:
                    for sign in ((1,) if site.role == "equal" else (1, -1)):
                        new = arg * (1 + sign * d)
                        args = list(node.args)
                        args[i] = new
                        edits.append(("scale-constant", f"constant {_text(arg)} in {_text(node)} → {_text(new)}",
                                      {node: node.func(*args)}))
    for node in nodes:
        if isinstance(node, sp.Add):
            for arg in node.args:
                rest = [a for a in node.args if a is not arg]
                edits.append(("drop-term", f"{_text(node)}: term {_text(arg)} dropped", {node: sp.Add(*rest)}))
            for arg in node.args:
                rest = [a for a in node.args if a is not arg]
                edits.append(("swap-sign", f"{_text(node)}: term {_text(arg)} → {_text(-arg)}",
                              {node: sp.Add(*rest, -arg)}))
    for node in nodes:
        if isinstance(node, sp.Pow) and isinstance(node.exp, sp.Number):
            for new in (2 * node.exp, node.exp / 2):
                edits.append(("exponent", f"{_text(node)} → {_text(node.base ** new)}", {node: node.base ** new}))
    return edits


def _output_edits(site: Site) -> list[tuple[str, str, dict]]:
    scale = site.output or (lambda e, f: e * f)
    factors = [("scale-output", 1 + s * d) for d in DELTAS for s in ((1,) if site.role == "equal" else (1, -1))]
    factors += [("wrong-factor", sp.Integer(2)), ("wrong-factor", sp.Rational(1, 2))]
    return [(op, f"{site.name} × {_text(f)}", {e: scale(e, f) for e in (site.outputs or site.exprs)})
            for op, f in factors]


def _numeric_points(exprs: list[sp.Expr], count: int = 4) -> list[dict]:
    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    rng = random.Random(0)
    points = []
    for _ in range(count):
        point = {}
        for s in symbols:
            if s.is_integer:
                point[s] = rng.randint(2, 5)
            elif s.is_nonnegative:
                point[s] = sp.Rational(rng.randint(1, 97), rng.randint(101, 131))
            else:
                point[s] = sp.Rational(rng.randint(-97, 97), rng.randint(101, 131))
        points.append(point)
    return points


def _value(e: sp.Expr, point: dict) -> complex | None:
    try:
        v = complex(sp.N(e.subs(point), 30))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v.real) and math.isfinite(v.imag) else None


def _same(old: list[sp.Expr], new: list[sp.Expr]) -> bool:
    """Proved equal: structurally, or by simplify once numeric evaluation agrees at random points."""
    if all(a == b for a, b in zip(old, new)):
        return True
    for point in _numeric_points(old + new):
        for a, b in zip(old, new):
            va, vb = _value(a, point), _value(b, point)
            if va is not None and vb is not None and abs(va - vb) > 1e-20 * (1 + abs(va)):
                return False
    return all(sp.simplify(a - b) == 0 for a, b in zip(old, new))


def _weaker(site: Site, old: list[sp.Expr], new: list[sp.Expr]) -> str:
    """A proof that the mutated side is weaker than the true one (so the mutant is true), or ""."""
    if site.role == "equal":
        return ""
    diffs = [sp.simplify((b - a) if site.role == "upper" else (a - b)) for a, b in zip(old, new)]
    if all(d.is_nonnegative for d in diffs):
        side = "right" if site.role == "upper" else "left"
        return (f"weaker than the true claim: the {side} side moves by {', '.join(_text(d) for d in diffs)}, "
                "which is ≥ 0 on the claim's domain (SymPy), so the mutant holds")
    return ""


def _sympy_exclusion(site: Site, mapping: dict) -> str:
    old = [e.subs(site.fixed) for e in site.exprs]
    new = [e.xreplace(mapping).subs(site.fixed) for e in site.exprs]
    if _same(old, new):
        fixed = ", ".join(f"{k} = {v}" for k, v in site.fixed.items())
        where = f" with {fixed} (every case)" if site.fixed else ""
        return f"equivalent: the mutated expression simplifies to the original{where}"
    return _weaker(site, old, new) or (site.equivalent(new) if site.equivalent else "")


# --------------------------------------------------------------------------- function sites


def scaled(f: Callable[..., Any], factor: float) -> Callable[..., Any]:
    """``f``'s value times ``factor``."""
    return lambda *a, **k: f(*a, **k) * factor


def offset_first(f: Callable[..., Any], delta: float) -> Callable[..., Any]:
    """``f``'s first entry plus ``delta``·max|entries| (tensor or array)."""

    def mutated(*a: Any, **k: Any) -> Any:
        out = f(*a, **k)
        if isinstance(out, torch.Tensor):
            out = out.clone()
            flat = out.reshape(-1)
            flat[0] = flat[0] + delta * out.abs().max()
            return flat.reshape(out.shape)
        out = np.array(out, dtype=np.float64, copy=True)
        out.reshape(-1)[0] += delta * np.abs(out).max(initial=0.0)
        return out

    return mutated


def _function_exclusion(site: Site, factor: float) -> str:
    if site.scale_equivalent:
        return site.scale_equivalent
    if site.role == "equal" or not site.nonneg:
        return ""
    if (site.role == "upper") == (factor > 1):
        side = "right" if site.role == "upper" else "left"
        way = "up" if factor > 1 else "down"
        return f"weaker than the true claim: the {side} side is ≥ 0 and scaled {way}, so the mutant holds"
    return ""


# --------------------------------------------------------------------------- all mutations of a site


def mutations(site: Site) -> list[Mutation]:
    """Every operator of :data:`OPERATORS` applied to ``site``, in a fixed order."""
    out: list[Mutation] = []
    if site.exprs:
        for op, detail, mapping in [*_output_edits(site), *_sympy_edits(site)]:
            out.append(Mutation(site, op, detail, lambda m=mapping: site.compile(m),
                                lambda m=mapping: _sympy_exclusion(site, m), key=_key(site, mapping)))
        base: Callable[[], Any] = lambda: site.compile({})  # noqa: E731
    else:
        base = lambda: site.formula  # noqa: E731
        factors = [1 + s * float(d) for d in DELTAS for s in ((1,) if site.role == "equal" else (1, -1))]
        for op, f in [*(("scale-output", f) for f in factors), ("wrong-factor", 2.0), ("wrong-factor", 0.5)]:
            out.append(Mutation(site, op, f"{site.name} × {f:g}", lambda f=f: scaled(site.formula, f),
                                _function_exclusion(site, f), key=f"{site.claim}/{site.name}/x{f!r}"))
    if site.vector:
        for d in OFFSETS:
            out.append(Mutation(site, "entry-offset", f"{site.name}: first entry + {d:g}·max|entries|",
                                lambda d=d: offset_first(base(), d)))
    for name, formula in site.alternatives:
        out.append(Mutation(site, "alternative", f"{site.name}: {name}", lambda f=formula: f))
    for tag in site.tags:
        out.append(_boundary(site, tag, base))
    return _dedupe(out)


def _boundary(site: Site, tag: str, base: Callable[[], Any]) -> Mutation:
    factor = site.boundary
    why = site.boundary_equivalent.get(tag, "")
    if callable(factor):
        detail = f"{site.name}: {getattr(factor, '__doc__', '') or 'mutated'} only on cases tagged {tag}"
        return Mutation(site, "boundary-only", detail, lambda: factor(base()), why, boundary_tag=tag)
    detail = f"{site.name} × {_text(factor)} only on cases tagged {tag}"
    if site.exprs:
        scale = site.output or (lambda e, f: e * f)
        mapping = {e: scale(e, factor) for e in (site.outputs or site.exprs)}
        return Mutation(site, "boundary-only", detail, lambda: site.compile(mapping), why, boundary_tag=tag)
    return Mutation(site, "boundary-only", detail, lambda: scaled(site.formula, float(factor)), why, boundary_tag=tag)


def _key(site: Site, mapping: dict) -> str:
    return f"{site.claim}/{site.name}/" + ";".join(sp.srepr(e.xreplace(mapping)) for e in site.exprs)


def _dedupe(muts: list[Mutation]) -> list[Mutation]:
    """A mutation whose formula is that of an earlier one is kept in the list, excluded as a duplicate."""
    seen: dict[str, Mutation] = {}
    for m in muts:
        if m.key and m.key in seen:
            m.duplicate_of = seen[m.key]
        elif m.key:
            seen[m.key] = m
    return muts
