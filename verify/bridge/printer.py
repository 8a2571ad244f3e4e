"""A SymPy code printer that emits torch code which keeps autograd and batching.

SymPy 1.14's own ``TorchPrinter`` (used by ``lambdify(..., modules="torch")``)
prints a matrix as ``torch.tensor([[...]])``, which cuts the autograd graph and
cannot batch; ``Max(x, 0)`` and ``Heaviside`` fail, and a constant expression
stays a Python number. :class:`TorchPrinter` fixes this:

* every symbol is a tensor of the batch shape, so a scalar expression evaluates
  elementwise over any leading batch dimensions;
* a Matrix ``(r, c)`` is ``torch.stack`` of its entries (each first broadcast to
  the common batch shape), reshaped to ``(*batch, r, c)``;
* a constant subexpression is evaluated once, in SymPy, to a float literal of
  full precision; where torch needs a tensor (``torch.where``,
  ``torch.maximum``, a constant result) it becomes a tensor of the inputs'
  dtype and device;
* the printer is a whitelist: a node it does not know raises
  :class:`~verify.errors.BridgeError` naming the node type and how to rewrite it,
  instead of printing something plausible but wrong (``math.exp``, a Python
  loop, or a ``torch.autograd.grad`` call for a ``Derivative``).

The generated code refers to three names the caller defines (see
:func:`verify.bridge.generate_source`): ``_dtype``, ``_device`` and ``_batch``.
The function tables, rewrite hints and constant literals live in
:mod:`verify.bridge._printer_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pycode import PythonCodePrinter

from verify.bridge._printer_tables import (
    _BINARY,
    _BOOLEAN,
    _RECIPROCAL,
    _UNARY,
    _constant_literal,
    _float_literal,
    _is_identifier,
    _unsupported_message,
)
from verify.errors import BridgeError

__all__ = ["BATCH", "DEVICE", "DTYPE", "TorchPrinter"]

DTYPE = "_dtype"
"""Name of the ``torch.dtype`` variable generated code uses for constants."""
DEVICE = "_device"
"""Name of the ``torch.device`` variable generated code uses for constants."""
BATCH = "_batch"
"""Name of the ``torch.Size`` variable holding the common batch shape."""


class TorchPrinter(PythonCodePrinter):
    """Print a SymPy expression as batched, differentiable torch code.

    Dispatch is by ``_print_<Class>`` methods, but only methods defined on this
    class (or a subclass) count: SymPy's Python printer would otherwise fall
    back to ``math.*`` calls or Python loops that silently break on tensors.

    Settings (besides SymPy's code-printer settings):
        symbol_names: ``{Symbol: "python_name"}``; a symbol not listed prints
            as its own name if that is a valid identifier.
        strict: ``True`` (default) raises :class:`~verify.errors.BridgeError` on
            an unsupported node; ``False`` prints it as SymPy text, giving
            partial (not runnable) output for debugging.

    Example:
        >>> import sympy
        >>> x, y = sympy.symbols("x y")
        >>> TorchPrinter().doprint(sympy.Max(x, y, 0) / 3)
        '0.3333333333333333*torch.maximum(torch.maximum(torch.tensor(0, dtype=_dtype, device=_device), x), y)'
    """

    printmethod = "_verify_torchcode"
    language = "torch"
    _default_settings: ClassVar[dict[str, Any]] = dict(
        PythonCodePrinter._default_settings,
        symbol_names={},
        strict=True,
        order="none",
    )

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        """Create a printer.

        Args:
            settings: Printer settings, see the class docstring.
        """
        super().__init__(dict(settings or {}))
        self._symbol_names: dict[sympy.Symbol, str] = dict(self._settings["symbol_names"])
        self._constant_memo: dict[sympy.Basic, bool] = {}
        own: set[str] = set()
        for klass in type(self).__mro__:
            own.update(name for name in vars(klass) if name.startswith("_print_"))
            if klass is TorchPrinter:
                break
        self._own_methods = frozenset(own)

    # ------------------------------------------------------------------ entry
    def doprint(self, expr: Any, assign_to: Any = None) -> str:
        """Code for ``expr``; constants print as Python float literals.

        Args:
            expr: A SymPy expression, boolean, or Matrix.
            assign_to: Not supported (the bridge emits its own assignments).

        Returns:
            One Python expression (no newlines).

        Raises:
            BridgeError: ``expr`` contains a node the printer does not support.
        """
        if assign_to is not None:
            raise BridgeError("TorchPrinter.doprint does not support assign_to; got "
                              f"assign_to={assign_to!r}, expected None")
        return self._print(sympy.sympify(expr))

    def batched(self, expr: Any) -> str:
        """Code for a tensor of shape ``(*_batch)`` (scalar) or ``(*_batch, r, c)``.

        Unlike :meth:`doprint`, a constant becomes a full tensor of the batch
        shape, dtype and device, so every result has the same layout.

        Args:
            expr: A SymPy expression, boolean, or Matrix.

        Returns:
            One Python expression.
        """
        expr = sympy.sympify(expr)
        if isinstance(expr, sympy.MatrixBase):
            return self._print(expr)
        if isinstance(expr, sympy.logic.boolalg.BooleanAtom):
            return f"torch.full({BATCH}, {bool(expr)}, dtype=torch.bool, device={DEVICE})"
        if isinstance(expr, sympy.Expr) and self._is_constant(expr):
            return f"torch.full({BATCH}, {self._constant(expr)}, dtype={DTYPE}, device={DEVICE})"
        return f"torch.broadcast_to({self._print(expr)}, {BATCH})"

    # -------------------------------------------------------------- dispatch
    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, sympy.MatrixBase):
            return self._print_MatrixBase(expr)
        if not isinstance(expr, sympy.Basic):
            return str(expr)
        if not expr.is_Number and self._is_constant(expr):
            return self._constant(expr)
        function = self._function_code(expr)
        if function is not None:
            return function
        if not isinstance(expr, AppliedUndef):
            for klass in type(expr).__mro__:
                name = "_print_" + klass.__name__
                if name in self._own_methods:
                    return getattr(self, name)(expr, **kwargs)
        return self._unsupported(expr)

    def _function_code(self, expr: sympy.Basic) -> str | None:
        kind = type(expr)
        if kind in _UNARY:
            return f"{_UNARY[kind]}({self._print(expr.args[0])})"
        if kind in _RECIPROCAL:
            return f"(1/{_RECIPROCAL[kind]}({self._print(expr.args[0])}))"
        if kind in _BINARY:
            return f"{_BINARY[kind]}({self._tensor(expr.args[0])}, {self._tensor(expr.args[1])})"
        if kind in _BOOLEAN:
            return self._fold(_BOOLEAN[kind], [self._print(arg) for arg in expr.args])
        return None

    def _unsupported(self, expr: sympy.Basic) -> str:
        if not self._settings["strict"]:
            return str(expr)
        raise BridgeError(_unsupported_message(expr, self.supported))

    @classmethod
    def supported(cls) -> list[str]:
        """Names of the SymPy node types this printer handles.

        Returns:
            Sorted class names (functions and structural nodes).
        """
        names = {k.__name__ for k in (*_UNARY, *_RECIPROCAL, *_BINARY, *_BOOLEAN)}
        for klass in cls.__mro__:
            names.update(n.removeprefix("_print_") for n in vars(klass) if n.startswith("_print_"))
            if klass is TorchPrinter:
                break
        return sorted(names)

    # ------------------------------------------------------------- constants
    def _is_constant(self, expr: sympy.Basic) -> bool:
        hit = self._constant_memo.get(expr)
        if hit is None:
            if isinstance(expr, sympy.Symbol):
                hit = False
            elif isinstance(expr, (sympy.Number, sympy.NumberSymbol, sympy.core.numbers.ImaginaryUnit)):
                hit = True
            elif not isinstance(expr, sympy.Expr) or isinstance(expr, sympy.MatrixExpr):
                hit = False
            elif not expr.args:
                hit = bool(expr.is_number)
            else:
                hit = all(self._is_constant(arg) for arg in expr.args)
            self._constant_memo[expr] = hit
        return hit

    def _constant(self, expr: sympy.Expr) -> str:
        """Full-precision float literal of a constant expression."""
        literal = _constant_literal(expr)
        return self._unsupported(expr) if literal is None else literal

    def _tensor(self, expr: sympy.Basic) -> str:
        """Code that is a tensor even if ``expr`` is constant (0-dim, broadcasts)."""
        if isinstance(expr, sympy.Expr) and self._is_constant(expr):
            return f"torch.tensor({self._constant(expr)}, dtype={DTYPE}, device={DEVICE})"
        return self._print(expr)

    @staticmethod
    def _fold(function: str, args: list[str]) -> str:
        code = args[0]
        for arg in args[1:]:
            code = f"{function}({code}, {arg})"
        return code

    # ------------------------------------------------------------ atoms
    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        name = self._symbol_names.get(expr)
        if name is not None:
            return name
        if _is_identifier(expr.name):
            return expr.name
        raise BridgeError(f"symbol {expr.name!r} is not a Python identifier; pass "
                          "TorchPrinter({'symbol_names': {symbol: 'valid_name'}}), "
                          "or use verify.bridge.to_torch, which renames symbols.")

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return self._constant(expr)

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return _float_literal(float(expr))

    def _print_Float(self, expr: sympy.Float) -> str:
        return _float_literal(float(expr))

    def _print_Infinity(self, expr: sympy.Basic) -> str:
        return _float_literal(float("inf"))

    def _print_NegativeInfinity(self, expr: sympy.Basic) -> str:
        return _float_literal(float("-inf"))

    def _print_NaN(self, expr: sympy.Basic) -> str:
        return _float_literal(float("nan"))

    def _print_ComplexInfinity(self, expr: sympy.Basic) -> str:
        return self._constant(expr)

    def _print_BooleanTrue(self, expr: sympy.Basic) -> str:
        return f"torch.ones({BATCH}, dtype=torch.bool, device={DEVICE})"

    def _print_BooleanFalse(self, expr: sympy.Basic) -> str:
        return f"torch.zeros({BATCH}, dtype=torch.bool, device={DEVICE})"

    # ------------------------------------------------------------ arithmetic
    def _print_Add(self, expr: sympy.Add, order: Any = None) -> str:
        return super()._print_Add(expr, order=order)

    def _print_Mul(self, expr: sympy.Mul) -> str:
        return super()._print_Mul(expr)

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        if exp == sympy.S.Half:
            return f"torch.sqrt({self._print(base)})"
        if exp == -sympy.S.Half:
            return f"torch.rsqrt({self._print(base)})"
        if exp == -1:
            return f"(1/{self.parenthesize(base, PRECEDENCE['Pow'])})"
        base_code = self.parenthesize(base, PRECEDENCE["Pow"])
        exp_code = self.parenthesize(exp, PRECEDENCE["Pow"])
        return f"{base_code}**{exp_code}"

    # -------------------------------------------------------- non-smooth
    def _print_Max(self, expr: sympy.Max) -> str:
        return self._fold("torch.maximum", [self._tensor(arg) for arg in expr.args])

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._fold("torch.minimum", [self._tensor(arg) for arg in expr.args])

    def _print_Heaviside(self, expr: sympy.Heaviside) -> str:
        """H(x) with H(0) = SymPy's value (default 1/2).

        ``torch.heaviside`` has no derivative in torch; its derivative is 0
        almost everywhere, so the argument is detached (the result is constant
        in ``x``). A symbolic H(0) uses ``torch.where`` so gradients reach it.
        """
        arg = expr.args[0]
        h0 = expr.args[1] if len(expr.args) > 1 else sympy.S.Half
        if isinstance(h0, sympy.Expr) and self._is_constant(h0):
            return f"torch.heaviside(({self._print(arg)}).detach(), {self._tensor(h0)})"
        x = self._print(arg)
        one, zero = self._tensor(sympy.S.One), self._tensor(sympy.S.Zero)
        return f"torch.where({x} > 0, {one}, torch.where({x} < 0, {zero}, {self._tensor(h0)}))"

    def _print_KroneckerDelta(self, expr: sympy.KroneckerDelta) -> str:
        i, j = expr.args[0], expr.args[1]
        one, zero = self._tensor(sympy.S.One), self._tensor(sympy.S.Zero)
        return f"torch.where({self._print(i)} == {self._print(j)}, {one}, {zero})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        """Nested ``torch.where``; no branch matching gives NaN, as in SymPy.

        Both branches are always evaluated: a NaN or inf in an unselected
        branch still poisons the gradient (a torch.where property).
        """
        pieces = list(expr.args)
        value, cond = pieces[-1]
        if cond == sympy.true:
            code = self._tensor(value)
            pieces = pieces[:-1]
        else:
            code = self._tensor(sympy.nan)
        for value, cond in reversed(pieces):
            code = f"torch.where({self._print(cond)}, {self._tensor(value)}, {code})"
        return code

    def _print_polygamma(self, expr: sympy.polygamma) -> str:
        order, arg = expr.args
        if not (order.is_Integer and order >= 0):
            return self._unsupported(expr)
        if order == 0:
            return f"torch.special.digamma({self._print(arg)})"
        return f"torch.special.polygamma({int(order)}, {self._print(arg)})"

    # ----------------------------------------------------------- booleans
    def _print_Relational(self, expr: sympy.core.relational.Relational) -> str:
        lhs = self.parenthesize(expr.lhs, PRECEDENCE["Relational"])
        rhs = self.parenthesize(expr.rhs, PRECEDENCE["Relational"])
        return f"({lhs} {expr.rel_op} {rhs})"

    def _print_Not(self, expr: sympy.Not) -> str:
        return f"torch.logical_not({self._print(expr.args[0])})"

    # ------------------------------------------------------------ matrices
    def _print_MatrixBase(self, expr: sympy.MatrixBase) -> str:
        """``torch.stack`` of the entries, each broadcast to ``_batch``: ``(*_batch, r, c)``.

        Entries are broadcast one by one (``torch.broadcast_to``, a view) rather
        than with ``torch.broadcast_tensors`` over the entries, so that a matrix
        whose entries all use a subset of the arguments still gets the full batch.
        """
        rows, cols = expr.shape
        if rows * cols == 0:
            return f"torch.zeros({BATCH} + ({rows}, {cols}), dtype={DTYPE}, device={DEVICE})"
        entries = ",\n        ".join(self.batched(entry) for entry in expr)
        return f"torch.stack([\n        {entries},\n    ], dim=-1).reshape({BATCH} + ({rows}, {cols}))"

    def parenthesize(self, item: Any, level: float, strict: bool = False) -> str:
        """Like SymPy's (parentheses when ``prec < level``, or ``prec == level``
        unless ``strict``), but a constant folded to a literal counts as atomic."""
        if isinstance(item, sympy.Expr) and self._is_constant(item):
            return self._print(item)  # folded literal: atomic, negatives parenthesized
        prec = precedence(item)
        if (prec < level) or (not strict and prec <= level):
            return f"({self._print(item)})"
        return self._print(item)
