"""Turn a SymPy expression into a batched, differentiable torch function.

:func:`to_torch` is the bridge's entry point. It evaluates the expression
(``.doit()``), refuses anything that would not be a faithful closed form
(unevaluated ``Derivative``/``Integral``/``Sum``/``Product``/``Subs``, symbols
that are not arguments), eliminates common subexpressions, prints a standalone
Python module with :class:`~verify.bridge.printer.TorchPrinter`, and caches that
module on disk keyed by the expression (a Merkle hash of its tree, equivalent
to hashing ``srepr``), the arguments, the SymPy version and
:data:`PRINTER_VERSION`: for big symbolic Hessians, ``cse`` and printing are the
expensive part, and a cache hit skips them.
"""

from __future__ import annotations

import hashlib
import keyword
import linecache
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sympy

if TYPE_CHECKING:
    import torch

from verify.bridge.printer import BATCH, DEVICE, DTYPE, TorchPrinter
from verify.errors import BridgeError, InvalidInputError

__all__ = ["PRINTER_VERSION", "TorchFunction", "default_cache_dir", "generate_source", "to_torch"]

PRINTER_VERSION = "1"
"""Bump whenever generated code changes, so stale cache files are not reused."""

_UNEVALUATED = (sympy.Derivative, sympy.Integral, sympy.Sum, sympy.Product, sympy.Subs)
_RESERVED = frozenset({"torch", "float", DTYPE, DEVICE, BATCH})


@dataclass(frozen=True)
class _Arg:
    """One positional argument: a scalar Symbol or an array of Symbols."""

    name: str
    symbols: tuple[sympy.Symbol, ...]  # row-major
    shape: tuple[int, ...]  # () for a scalar Symbol; trailing tensor dims otherwise


def default_cache_dir() -> Path:
    """Where generated modules are cached when no ``cache_dir`` is given.

    Returns:
        ``$VERIFY_CACHE_DIR`` if set, else ``~/.cache/verify/bridge``.
    """
    env = os.environ.get("VERIFY_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "verify" / "bridge"


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


def generate_source(expr: Any, args: Any, *, cse: bool = True, name: str = "f") -> str:
    """The Python module text :func:`to_torch` compiles (no caching).

    Args:
        expr: SymPy Expr, boolean, or Matrix; ``.doit()`` is applied.
        args: Sequence of Symbols (or Matrices / nested lists of Symbols).
        cse: Eliminate common subexpressions (essential for big Hessians).
        name: Name of the generated function.

    Returns:
        Source of a module with ``import torch`` and one ``def name(...)``.

    Raises:
        BridgeError: Unevaluated nodes, missing symbols, unsupported functions.
        InvalidInputError: Malformed ``args`` or ``name``.
    """
    _check_name(name)
    specs, names = _arg_specs(args)
    expr = _prepare_expr(expr)
    return _source(expr, specs, names, cse=cse, name=name, header=())


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


class TorchFunction:
    """A compiled generated function; call it with one tensor per argument.

    Attributes:
        source: The generated module text.
        args: Parameter names, in order.
        cache_path: The cache file, or ``None`` when not cached.
        from_cache: Whether the source was loaded from the cache.
        name: The generated function's name.
    """

    def __init__(self, function: Callable[..., torch.Tensor], source: str, specs: list[_Arg],
                 cache_path: Path | None, from_cache: bool, name: str) -> None:
        """Wrap a compiled function (use :func:`to_torch` to make one)."""
        self._function = function
        self._specs = list(specs)
        self.source = source
        self.args: tuple[str, ...] = tuple(spec.name for spec in specs)
        self.cache_path = cache_path
        self.from_cache = from_cache
        self.name = name

    def __repr__(self) -> str:
        return (f"TorchFunction({self.name}({', '.join(self.args)}), from_cache={self.from_cache}, "
                f"cache_path={str(self.cache_path) if self.cache_path else None!r})")

    def __call__(self, *values: torch.Tensor | float) -> torch.Tensor:
        """Evaluate elementwise over the broadcast leading (batch) dims.

        Args:
            *values: One tensor (or Python number) per argument. Tensors are
                promoted to one floating dtype (float64 when none is a floating
                tensor) and moved to the first tensor's device; an array
                argument has trailing dims equal to its symbol array's shape.

        Returns:
            Tensor of shape ``(*batch)`` for a scalar expression or
            ``(*batch, r, c)`` for an ``r x c`` Matrix.

        Raises:
            InvalidInputError: Wrong number of arguments or trailing shape.
        """
        import torch  # lazily: importing verify.bridge (e.g. to hash expressions) stays light

        if len(values) != len(self._specs):
            raise InvalidInputError(
                f"{self.name}({', '.join(self.args)}) expects {len(self._specs)} argument(s), "
                f"got {len(values)}. Pass one tensor per argument, in this order.")
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        dtype, device = torch.float64, None
        if tensors:
            dtype, device = tensors[0].dtype, tensors[0].device
            for tensor in tensors[1:]:
                dtype = torch.promote_types(dtype, tensor.dtype)
            if not (dtype.is_floating_point or dtype.is_complex):
                dtype = torch.float64
        converted = []
        for spec, value in zip(self._specs, values):
            try:
                tensor = torch.as_tensor(value, dtype=dtype, device=device)
            except (TypeError, ValueError, RuntimeError) as error:
                raise InvalidInputError(f"argument {spec.name} is {type(value).__name__}; expected a "
                                        "tensor or a number") from error
            k = len(spec.shape)
            if k and tuple(tensor.shape[tensor.ndim - k:]) != spec.shape:
                raise InvalidInputError(
                    f"argument {spec.name} must have trailing shape {spec.shape} (one entry per "
                    f"symbol {', '.join(map(str, spec.symbols))}), got shape {tuple(tensor.shape)}")
            converted.append(tensor)
        return self._function(*converted)


def _tree_digest(expr: sympy.Basic) -> str:
    """SHA-256 Merkle hash of the expression tree; stands in for ``srepr(expr)``.

    Same information as hashing ``srepr`` (class of every node, leaves by
    ``srepr``, so symbols with their assumptions), but every distinct subtree is
    hashed once: symbolic Hessians share most subtrees, so ``srepr`` text is
    exponentially longer than the DAG (a 20x20 softmax-regression Hessian:
    0.45 s for srepr, 3 ms here). Argument order is canonical in SymPy, so the
    digest is the same across processes.
    """
    memo: dict[int, tuple[bytes, Any]] = {}

    def visit(node: Any) -> bytes:
        hit = memo.get(id(node))
        if hit is not None:
            return hit[0]
        if isinstance(node, sympy.Basic) and node.args and not isinstance(node, sympy.Symbol):
            kind = f"{type(node).__module__}.{type(node).__qualname__}".encode()
            text = kind + b"(" + b",".join(visit(arg) for arg in node.args) + b")"
        else:
            text = (sympy.srepr(node) if isinstance(node, sympy.Basic) else repr(node)).encode()
        digest = hashlib.sha256(text).digest()
        memo[id(node)] = (digest, node)  # keep node alive so its id is not reused
        return digest

    return visit(expr).hex()


def _cache_key(expr: sympy.Basic, specs: list[_Arg], cse: bool, name: str) -> str:
    parts = [
        _tree_digest(expr),
        repr([(spec.name, [sympy.srepr(s) for s in spec.symbols], spec.shape) for spec in specs]),
        f"cse={cse}", f"name={name}", f"sympy={sympy.__version__}", f"printer={PRINTER_VERSION}",
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _compile(source: str, filename: str, name: str) -> Callable[..., torch.Tensor]:
    namespace: dict[str, Any] = {"__name__": f"verify_bridge_generated_{name}"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace[name]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def to_torch(expr: Any, args: Any, *, cse: bool = True, cache: bool = True,
             cache_dir: str | os.PathLike[str] | None = None, name: str = "f") -> TorchFunction:
    r"""Compile a SymPy expression to a batched torch function that keeps autograd.

    A scalar expression evaluates elementwise over broadcast inputs of shape
    ``(*batch)``; an ``r x c`` Matrix gives ``(*batch, r, c)``; constants come
    out as tensors of the inputs' dtype, device and batch shape.

    Args:
        expr: SymPy Expr (or boolean) or Matrix; ``.doit()`` is applied first.
        args: Sequence of Symbols, one positional argument each. An entry may
            also be a Matrix or nested list of Symbols, passed as one tensor
            whose trailing dims index the symbols (``z: (*batch, 3)`` for
            ``[z0, z1, z2]``). A lone Symbol or Matrix counts as one argument.
        cse: Eliminate common subexpressions before printing.
        cache: Load/store the generated module on disk.
        cache_dir: Cache folder; default ``$VERIFY_CACHE_DIR`` or
            ``~/.cache/verify/bridge``.
        name: Name of the generated function.

    Returns:
        A :class:`TorchFunction`.

    Raises:
        BridgeError: ``Derivative``/``Integral``/``Sum``/``Product``/``Subs``
            left after ``.doit()``, a free symbol missing from ``args``, or an
            unsupported node.
        InvalidInputError: ``args`` are not Symbols, repeat a symbol, or
            ``name`` is not an identifier.

    Example:
        >>> import sympy, torch
        >>> x, y = sympy.symbols("x y")
        >>> f = to_torch(sympy.Matrix([[x * y, sympy.Max(x, 0)], [1, sympy.exp(y)]]), [x, y], cache=False)
        >>> f(torch.tensor([1.0, -2.0]), torch.tensor([0.0, 1.0])).shape
        torch.Size([2, 2, 2])
        >>> f(-2.0, 0.0)
        tensor([[-0., 0.],
                [1., 1.]], dtype=torch.float64)
    """
    _check_name(name)
    specs, names = _arg_specs(args)
    expr = _prepare_expr(expr)
    key = _cache_key(expr, specs, cse, name)
    header = (f"key: {key}", f"sympy {sympy.__version__}, printer version {PRINTER_VERSION}")
    path: Path | None = None
    if cache:
        path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = path.expanduser() / f"{key}.py"
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            source = None
        if source is not None and source.startswith(f"# key: {key}\n"):
            try:
                function = _compile(source, str(path), name)
            except (SyntaxError, KeyError, ImportError, NameError):
                pass  # damaged file: regenerate and overwrite it below
            else:
                return TorchFunction(function, source, specs, path, True, name)
    source = _source(expr, specs, names, cse=cse, name=name, header=header)
    if path is not None:
        try:
            _write_atomic(path, source)
        except OSError as error:
            warnings.warn(f"verify.bridge: could not write the cache file {path} ({error}); "
                          "continuing without the cache", RuntimeWarning, stacklevel=2)
            path = None
    filename = str(path) if path is not None else f"<verify.bridge {key[:12]}>"
    if path is None:
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return TorchFunction(_compile(source, filename, name), source, specs, path, False, name)
