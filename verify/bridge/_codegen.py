"""Code generation for :func:`~verify.bridge.to_torch`: from a SymPy expression to module text.

The steps before any caching: :func:`_arg_specs` names the positional arguments
and every symbol, :func:`_prepare_expr` and :func:`_check` refuse what would not
be a faithful closed form, :func:`_cse` eliminates common subexpressions, and
:func:`_source` prints the standalone module with
:class:`~verify.bridge.printer.TorchPrinter`; :func:`_compile` turns that text
into the function.
"""

from __future__ import annotations

import keyword
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy

if TYPE_CHECKING:
    import torch

from verify.bridge.printer import BATCH, DEVICE, DTYPE, TorchPrinter
from verify.errors import BridgeError, InvalidInputError

_UNEVALUATED = (sympy.Derivative, sympy.Integral, sympy.Sum, sympy.Product, sympy.Subs)
_RESERVED = frozenset({"torch", "float", DTYPE, DEVICE, BATCH})


@dataclass(frozen=True)
class _Arg:
    """One positional argument: a scalar Symbol or an array of Symbols."""

    name: str
    symbols: tuple[sympy.Symbol, ...]  # row-major
    shape: tuple[int, ...]  # () for a scalar Symbol; trailing tensor dims otherwise


def _prepare_expr(expr: Any) -> sympy.Basic:
    if isinstance(expr, sympy.MatrixBase):
        return sympy.ImmutableMatrix(expr)
    if isinstance(expr, sympy.MatrixExpr):
        raise BridgeError(f"got the matrix expression {expr} of type {type(expr).__name__}; "
                          "expected an explicit Matrix. Fix: call .as_explicit() at concrete sizes.")
    try:
        expr = sympy.sympify(expr, strict=True)
    except (sympy.SympifyError, TypeError) as error:
        raise InvalidInputError(f"expr must be a SymPy Expr or Matrix, got {type(expr).__name__}: "
                                f"{expr!r}") from error
    if not isinstance(expr, (sympy.Expr, sympy.logic.boolalg.Boolean)):
        raise InvalidInputError(f"expr must be a SymPy Expr or Matrix, got {type(expr).__name__}: "
                                f"{expr!r}")
    return expr


def _nested_symbols(arg: Any, position: int) -> tuple[tuple[sympy.Symbol, ...], tuple[int, ...]]:
    if isinstance(arg, sympy.Symbol):
        return (arg,), ()
    if isinstance(arg, sympy.MatrixBase):
        return tuple(arg), tuple(arg.shape)
    if isinstance(arg, (list, tuple)) or (isinstance(arg, sympy.NDimArray)):
        try:
            array = sympy.ImmutableDenseNDimArray(arg)
        except (ValueError, TypeError) as error:
            raise InvalidInputError(f"argument {position} is a ragged nested list: {arg!r}; "
                                    "expected a rectangular array of Symbols") from error
        symbols = tuple(array[index] for index in _indices(array.shape))
        if all(isinstance(s, sympy.Symbol) for s in symbols) and array.shape:
            return symbols, tuple(array.shape)
    raise InvalidInputError(f"argument {position} is {arg!r} of type {type(arg).__name__}; expected "
                            "a Symbol, or a Matrix / nested list of Symbols")


def _indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for size in shape:
        out = [index + (i,) for index in out for i in range(size)]
    return out


def _valid(name: str, used: set[str]) -> bool:
    return (name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")
            and name not in _RESERVED and name not in used)


def _arg_specs(args: Any) -> tuple[list[_Arg], dict[sympy.Symbol, str]]:
    """Positional arguments and a Python name for every symbol."""
    if isinstance(args, (sympy.Symbol, sympy.MatrixBase)):
        args = [args]
    if isinstance(args, sympy.Tuple):
        args = list(args)
    if not isinstance(args, Sequence) or isinstance(args, str):
        raise InvalidInputError(f"args must be a sequence of Symbols, got {type(args).__name__}: "
                                f"{args!r}")
    parts = [_nested_symbols(arg, i) for i, arg in enumerate(args)]
    names: dict[sympy.Symbol, str] = {}
    used: set[str] = set()
    counter = 0
    for symbols, _ in parts:
        for symbol in symbols:
            if symbol in names:
                raise InvalidInputError(f"symbol {symbol} appears twice in args {list(args)}; "
                                        "each symbol must be one argument (or one entry)")
            name = symbol.name
            if not _valid(name, used):
                name, counter = f"_s{counter}", counter + 1
            names[symbol] = name
            used.add(name)
    specs = []
    for i, (symbols, shape) in enumerate(parts):
        if not shape:
            specs.append(_Arg(names[symbols[0]], symbols, shape))
            continue
        prefix = os.path.commonprefix([s.name for s in symbols]).rstrip("0123456789_[({")
        name = prefix if _valid(prefix, used) else f"arg{i}"
        while not _valid(name, used):
            name += "_"
        used.add(name)
        specs.append(_Arg(name, symbols, shape))
    return specs, names


def _check(expr: sympy.Basic, specs: list[_Arg]) -> None:
    left = expr.atoms(*_UNEVALUATED)
    if left:
        kinds = sorted({type(node).__name__ for node in left})
        first = str(next(iter(left)))[:200]
        raise BridgeError(f"after .doit() the expression still contains unevaluated {', '.join(kinds)} "
                          f"(e.g. {first}); expected a closed form. Printing it would evaluate it "
                          "numerically (a 'symbolic vs autograd' check would then compare autograd "
                          "with itself). Fix: derive a closed form, use explicit symbols at small "
                          "sizes, or IndexedBase sums with bounds SymPy can evaluate.")
    known = {s for spec in specs for s in spec.symbols}
    missing = expr.free_symbols - known
    if missing:
        listed = ", ".join(sorted(str(s) for s in missing))
        given = ", ".join(spec.name for spec in specs) or "none"
        raise BridgeError(f"the expression has free symbols that are not arguments: {listed} "
                          f"(arguments: {given}). Fix: add them to args or substitute values.")


def _cse(exprs: list[sympy.Basic], exclude: set[sympy.Symbol]
         ) -> tuple[list[tuple[sympy.Symbol, sympy.Basic]], list[sympy.Basic]]:
    """``sympy.cse``, with constant subexpressions put back (printed as literals)."""
    symbols = sympy.numbered_symbols("_x", exclude=exclude)
    replacements, reduced = sympy.cse(exprs, symbols=symbols)
    constants: dict[sympy.Symbol, sympy.Basic] = {}
    kept = []
    for symbol, value in replacements:
        value = value.xreplace(constants) if constants else value
        if isinstance(value, sympy.Expr) and not value.free_symbols:
            constants[symbol] = value
        else:
            kept.append((symbol, value))
    if constants:
        reduced = [e.xreplace(constants) for e in reduced]
    return kept, reduced


def _describe(expr: sympy.Basic, limit: int = 300) -> str:
    """A one-line description for the header comment, cheap for huge expressions.

    Printing a big expression with ``str`` sorts every sum and costs seconds,
    so only small expressions are printed in full.
    """
    for count, _ in enumerate(sympy.preorder_traversal(expr)):
        if count > 100:
            if isinstance(expr, sympy.MatrixBase):
                return f"{expr.rows}x{expr.cols} Matrix with more than 100 nodes"
            return f"{type(expr).__name__} with more than 100 nodes"
    text = " ".join(sympy.sstr(expr, order="none").split())
    return text if len(text) <= limit else text[:limit] + " ..."

def _source(expr: sympy.Basic, specs: list[_Arg], names: dict[sympy.Symbol, str], *, cse: bool,
            name: str, header: Sequence[str]) -> str:
    original = expr
    expr = _prepare_expr(expr.doit())
    _check(expr, specs)
    if cse:
        assignments, (result,) = _cse([expr], exclude=set(names) | expr.free_symbols)
    else:
        assignments, result = [], expr
    symbol_names = dict(names)
    symbol_names.update({symbol: symbol.name for symbol, _ in assignments})
    printer = TorchPrinter({"symbol_names": symbol_names})
    params = ", ".join(spec.name for spec in specs)
    shape = list(result.shape) if isinstance(result, sympy.MatrixBase) else []
    lines = [f"# {line}" for line in header]
    lines += [
        "# Generated by verify.bridge (TorchPrinter); do not edit.",
        f"# expr: {_describe(original)}",
        "import torch",
        "",
        "",
        f"def {name}({params}):",
        f'    """Evaluate over leading batch dims; returns shape {_shape_text(shape)}.',
        "",
        "    Arguments are tensors of one dtype and device; an array argument's trailing",
        "    dims index its symbols. Use TorchFunction to also pass Python numbers.",
        '    """',
    ]
    if specs:
        first = specs[0].name
        lines.append(f"    {DTYPE}, {DEVICE} = {first}.dtype, {first}.device")
        shapes: list[str] = []
        for spec in specs:
            if not spec.shape:
                shapes.append(f"{spec.name}.shape")
                continue
            shapes.append(f"{spec.name}.shape[:-{len(spec.shape)}]")
            for symbol, index in zip(spec.symbols, _indices(spec.shape)):
                lines.append(f"    {names[symbol]} = {spec.name}[..., {', '.join(map(str, index))}]")
        lines.append(f"    {BATCH} = torch.broadcast_shapes({', '.join(shapes)})")
    else:
        lines.append(f"    {DTYPE}, {DEVICE}, {BATCH} = torch.float64, None, torch.Size()")
    for symbol, value in assignments:
        lines.append(f"    {symbol.name} = {printer.doprint(value)}")
    lines.append(f"    return {printer.batched(result)}")
    return "\n".join(lines) + "\n"


def _shape_text(shape: list[int]) -> str:
    return f"(*batch, {', '.join(map(str, shape))})" if shape else "(*batch)"


def _check_name(name: str) -> None:
    if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)
            and name not in _RESERVED):
        raise InvalidInputError(f"name must be a Python identifier other than {sorted(_RESERVED)}, "
                                f"got {name!r}")


def _compile(source: str, filename: str, name: str) -> Callable[..., torch.Tensor]:
    namespace: dict[str, Any] = {"__name__": f"verify_bridge_generated_{name}"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace[name]
