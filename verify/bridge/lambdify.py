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

This module holds the public entry points; the code generation is in
:mod:`verify.bridge._codegen`, the on-disk cache in :mod:`verify.bridge._cache`.
"""

from __future__ import annotations

import linecache
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sympy

if TYPE_CHECKING:
    import torch

from verify.bridge._cache import PRINTER_VERSION, _cache_key, _load, _write_atomic
from verify.bridge._codegen import _Arg, _arg_specs, _check_name, _compile, _prepare_expr, _source
from verify.errors import InvalidInputError

__all__ = ["PRINTER_VERSION", "TorchFunction", "default_cache_dir", "generate_source", "to_torch"]


def default_cache_dir() -> Path:
    """Where generated modules are cached when no ``cache_dir`` is given.

    Returns:
        ``$VERIFY_CACHE_DIR`` if set, else ``~/.cache/verify/bridge``.
    """
    env = os.environ.get("VERIFY_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "verify" / "bridge"


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
        hit = _load(path, key, name)
        if hit is not None:
            function, source = hit
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
