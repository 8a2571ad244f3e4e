"""The tables and pure helper functions behind :class:`~verify.bridge.printer.TorchPrinter`.

* ``_UNARY``, ``_RECIPROCAL``, ``_BINARY``, ``_BOOLEAN``: the SymPy function
  classes printed as one torch call, by arity;
* ``_HINTS``: for a node the printer refuses, how to rewrite it;
* ``_float_literal``, ``_constant_literal``: full-precision literals of constants;
* ``_unsupported_message``: the error text for a refused node.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

import sympy
from sympy.codegen import cfunctions
from sympy.core.function import AppliedUndef

from verify.errors import BridgeError

_UNARY: dict[type, str] = {
    sympy.exp: "torch.exp",
    sympy.log: "torch.log",
    sympy.Abs: "torch.abs",
    sympy.sign: "torch.sign",
    sympy.floor: "torch.floor",
    sympy.ceiling: "torch.ceil",
    sympy.sin: "torch.sin",
    sympy.cos: "torch.cos",
    sympy.tan: "torch.tan",
    sympy.asin: "torch.asin",
    sympy.acos: "torch.acos",
    sympy.atan: "torch.atan",
    sympy.sinh: "torch.sinh",
    sympy.cosh: "torch.cosh",
    sympy.tanh: "torch.tanh",
    sympy.asinh: "torch.asinh",
    sympy.acosh: "torch.acosh",
    sympy.atanh: "torch.atanh",
    sympy.erf: "torch.erf",
    sympy.erfc: "torch.erfc",
    sympy.erfinv: "torch.erfinv",
    sympy.loggamma: "torch.lgamma",
    cfunctions.log1p: "torch.log1p",
    cfunctions.expm1: "torch.expm1",
    cfunctions.log2: "torch.log2",
    cfunctions.log10: "torch.log10",
    cfunctions.exp2: "torch.exp2",
}
_RECIPROCAL: dict[type, str] = {
    sympy.sec: "torch.cos",
    sympy.csc: "torch.sin",
    sympy.cot: "torch.tan",
    sympy.sech: "torch.cosh",
    sympy.csch: "torch.sinh",
    sympy.coth: "torch.tanh",
}
_BINARY: dict[type, str] = {
    sympy.atan2: "torch.atan2",
    sympy.Mod: "torch.remainder",
}
_BOOLEAN: dict[type, str] = {
    sympy.And: "torch.logical_and",
    sympy.Or: "torch.logical_or",
    sympy.Xor: "torch.logical_xor",
}

_DOIT_HINT = (
    "call .doit() on the expression first; if the node survives .doit(), SymPy "
    "could not evaluate it: derive a closed form by hand (printing it would "
    "compute it numerically, e.g. with autograd, and compare autograd with itself)"
)
_HINTS: dict[str, str] = {
    "Derivative": _DOIT_HINT,
    "Integral": _DOIT_HINT,
    "Sum": _DOIT_HINT,
    "Product": _DOIT_HINT,
    "Subs": _DOIT_HINT,
    "MatrixExpr": (
        "make it explicit: use a Matrix of Symbols instead of a MatrixSymbol, "
        "or call .as_explicit() with concrete sizes"
    ),
    "MatrixElement": (
        "make it explicit: use a Matrix of Symbols instead of a MatrixSymbol, "
        "or call .as_explicit() with concrete sizes"
    ),
    "Indexed": (
        "substitute concrete index bounds, .doit() the sums, and replace each "
        "Indexed entry by a Symbol (e.g. via a Matrix of Symbols)"
    ),
    "IndexedBase": "replace IndexedBase entries by Symbols at concrete sizes",
    "Idx": "replace the index by concrete integers and .doit() the sums",
    "AppliedUndef": (
        "an undefined function cannot be evaluated: substitute a concrete "
        "expression, e.g. expr.subs(f(x), x**2)"
    ),
    "DiracDelta": (
        "DiracDelta is a distribution (the derivative of Heaviside), not a function; it "
        "is 0 away from its root, so if the evaluation points avoid the kink, drop it "
        "explicitly: expr.replace(sympy.DiracDelta, lambda *args: 0)"
    ),
    "gamma": "rewrite it: exp(loggamma(x)) for x > 0",
    "sinc": "rewrite it with expr.rewrite(sin) (torch.sinc is the normalized sinc)",
    "ImaginaryUnit": "the bridge evaluates real expressions; split into re/im by hand",
}
_GENERIC_HINT = (
    "rewrite it with supported functions (e.g. expr.rewrite(exp), "
    "expr.rewrite(Piecewise)); supported: {supported}"
)


def _float_literal(value: float) -> str:
    """Shortest literal that round-trips ``value``; negatives in parentheses."""
    if value != value:
        return 'float("nan")'
    if value in (float("inf"), float("-inf")):
        return 'float("inf")' if value > 0 else '(-float("inf"))'
    text = repr(value)
    return f"({text})" if value < 0 else text


def _is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _constant_literal(expr: sympy.Expr) -> str | None:
    """Full-precision literal of a constant expression; ``None`` if it has no numeric value.

    Raises:
        BridgeError: ``expr`` is complex infinity or a complex number.
    """
    if expr is sympy.zoo or expr.has(sympy.zoo):
        raise BridgeError(f"constant {expr} is complex infinity (zoo); expected a real "
                          "number. Fix: check for a division by zero in the expression.")
    if expr.is_Integer and abs(int(expr)) < 2**53:
        value = int(expr)
        return f"({value})" if value < 0 else str(value)
    value = sympy.N(expr, 30)
    if value is sympy.nan:
        return _float_literal(float("nan"))
    if not value.is_Number:
        real, imag = value.as_real_imag()
        if imag.is_Number and imag != 0:
            raise BridgeError(f"constant {expr} evaluates to the complex number {value}; "
                              "expected a real number. Fix: the bridge evaluates real "
                              "expressions; check the domain (e.g. sqrt or log of a negative).")
        return None
    return _float_literal(float(value))


def _unsupported_message(expr: sympy.Basic, supported: Callable[[], list[str]]) -> str:
    """The error text for a node the printer does not support, with a hint to rewrite it.

    Args:
        expr: The refused node.
        supported: Gives the names of the supported node types (called only when
            no specific hint matches ``expr``).
    """
    hint = None
    for klass in type(expr).__mro__:
        hint = _HINTS.get(klass.__name__)
        if hint is not None:
            break
    if hint is None:
        hint = _GENERIC_HINT.format(supported=", ".join(supported()))
    text = str(expr)
    if len(text) > 200:
        text = text[:200] + "..."
    kind = type(expr).__name__
    if isinstance(expr, AppliedUndef):
        kind = f"undefined function ({kind})"
    return (f"TorchPrinter cannot print this {kind} node: {text}. Fix: {hint}. "
            "To see the rest of the code with this node left as SymPy text, print "
            "with TorchPrinter({'strict': False}).doprint(expr).")
