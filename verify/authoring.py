r"""Write your own claim in a few lines: :func:`inequality` and :func:`identity`.

A user claim is a relation between two computed sides over generated cases::

    import verify

    lse_bound = verify.inequality(
        "logsumexp-bound",
        statement=r"\log\sum_j e^{z_j} \le \max_j z_j + \log k",
        cases=lambda: verify.logits(),            # any Hypothesis strategy factory
        lhs=lambda z: torch.logsumexp(z, -1),
        rhs=lambda z: z.max() + math.log(z.shape[-1]),
    )

and is run by ``verify check my_claims.py::lse_bound`` (or ``package.module:lse_bound``),
``verify report``, or in pytest through the ``verify_check`` fixture. Each side is a function
``(case) -> number`` (a Python float or a 0-dim tensor; for :func:`identity` any tensor),
or ``(case, ctx)`` to read the run's :class:`~verify.claims.CheckContext` (device, dtype).

The tolerance follows the project's model (``depth * eps * scale``): ``scale`` is the size
of the terms that cancel. By default it is ``|lhs| + |rhs|`` (inequalities) or the largest
entry of either side (identities); pass ``scale=`` (a number or a function of the case)
when the sides are differences of large terms, and ``depth=`` (default 1024) for the
round-off your computation may accumulate. The dtype of the tolerance is the precision the
sides were computed in: a Python float, numpy float64 or float64 tensor is float64 whatever
``--dtype`` says, a float32 tensor float32. When the sides differ, the coarser one counts if it is
no coarser than the run's dtype, else the finer one (a stray ``torch.tensor(1.0)``, float32, does
not loosen a float64 comparison): compute in float32 for a claim about float32 arithmetic.
Complex sides are an error, unless :func:`identity` is given ``complex_values=True``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from verify.claims import (
    EPS,
    CaseResult,
    CheckContext,
    Claim,
    Comparison,
    SymbolicResult,
    Tolerance,
    compare_close,
    compare_leq,
)
from verify.errors import ClaimDefinitionError, UserCodeError

__all__ = ["identity", "inequality"]

Side = Callable[..., Any]


def _arity(fn: Callable[..., Any], what: str, claim_id: str) -> int:
    """1 for ``(case)``, 2 for ``(case, ctx)``: the required positional parameters (those with a default,
    such as ``k`` in the loop-closure idiom ``lambda c, k=k: ...``, are left to their defaults)."""
    if not callable(fn):
        raise ClaimDefinitionError(f"Claim {claim_id!r}: {what}= must be a function of the case, "
                                   f"got {type(fn).__name__}.")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if not required and (positional or any(p.kind is p.VAR_POSITIONAL for p in params)):
        return 1  # (case=None) or (*args): it takes the case
    if len(required) not in (1, 2):
        raise ClaimDefinitionError(
            f"Claim {claim_id!r}: {what}= takes {len(required)} required positional arguments; give it "
            "(case) or (case, ctx).")
    return len(required)


def _call(fn: Side, arity: int, case: Any, ctx: CheckContext) -> Any:
    return fn(case, ctx) if arity == 2 else fn(case)


#: The precision a value of each dtype was computed in (integer and bool dtypes are exact: absent).
_PRECISION = {"float64": "float64", "complex128": "float64", "float32": "float32", "complex64": "float32",
              "float16": "float16", "complex32": "float16", "bfloat16": "bfloat16"}
_EXACT_DTYPES = ("int", "uint", "bool")


def _tolerance_dtype(a: Any, b: Any, ctx: CheckContext) -> str:
    """The dtype the tolerance is measured in: the precision the sides were computed in.

    A Python float (or numpy float64, a float64 tensor) is float64 arithmetic whatever the run's dtype;
    integers are exact and count for nothing. When the two sides differ, the coarser precision counts if it
    is no coarser than the run's dtype (``--dtype float32``, a side in float32 against a Python float: its
    round-off is float32's), else the finer one: a float32 constant in a float64 run (``torch.tensor(1.0)``
    is float32) must not loosen the comparison of a float64 computation to float32's resolution.
    """
    found = {d for d in (_dtype_of(a), _dtype_of(b)) if d is not None}
    if not found:
        return "float64"
    finer, coarser = min(found, key=EPS.__getitem__), max(found, key=EPS.__getitem__)
    return coarser if EPS[coarser] <= EPS[ctx.dtype] else finer


def _dtype_of(value: Any) -> str | None:
    """The precision ``value`` was computed in; ``None`` for an exact one (an int)."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        name = str(dtype).removeprefix("torch.")
        return None if name.startswith(_EXACT_DTYPES) else _PRECISION.get(name, "float64")
    if isinstance(value, (bool, int)):
        return None
    if isinstance(value, (list, tuple)):  # the coarsest of the entries (lists of floats, of tensors)
        found = [d for d in map(_dtype_of, value) if d is not None]
        return max(found, key=EPS.__getitem__) if found else None
    return "float64"  # Python float or complex: float64 arithmetic


def _where(fn: Any) -> str:
    """``lhs (<lambda> at mine.py:12)``: where the user's function is defined, for error messages."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    return f" ({getattr(fn, '__name__', 'function')} at {code.co_filename}:{code.co_firstlineno})"


def _as_float(value: Any, what: str, claim_id: str) -> float:
    if hasattr(value, "numel") and callable(value.numel):
        if value.numel() != 1:
            raise UserCodeError(
                f"Claim {claim_id!r}: {what} returned a tensor of shape {tuple(value.shape)}; an "
                "inequality compares numbers: reduce it to a scalar (e.g. .max() or .norm()).")
        value = value.detach().reshape(()).cpu().item() if hasattr(value, "detach") else value.item()
    elif hasattr(value, "item") and callable(value.item):  # numpy scalar / 1-element array
        value = value.item()
    if isinstance(value, complex):
        raise UserCodeError(f"Claim {claim_id!r}: {what} returned a complex number ({value!r}); an inequality "
                            "compares real numbers and complex numbers are not compared (they have no order): "
                            "return the real part, the modulus or whatever real quantity the claim is about.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserCodeError(f"Claim {claim_id!r}: {what} returned {type(value).__name__} ({value!r:.80}); "
                            "return a Python float or a 0-dim tensor.")
    if not math.isfinite(value):
        raise UserCodeError(f"Claim {claim_id!r}: {what} returned a non-finite value ({value}) on this case; "
                            "a relation needs finite numbers: check for overflow, log(0) or 0/0, or restrict "
                            "the cases (their strategy) to where the claim is meant to hold.")
    return float(value)


def _case_tags(case: Any) -> tuple[str, ...]:
    """The boundary cases a verify case hits (its ``tags``), and a network case's architecture: the evidence
    of a user claim lists what the run reached."""
    tags = getattr(case, "tags", None)
    tags = tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, tuple) else ()
    arch = getattr(case, "arch", None)
    return (*tags, arch) if isinstance(arch, str) else tags


def _scale_fn(scale: float | Callable[..., Any] | None, claim_id: str) -> Callable[[Any, CheckContext], float] | None:
    if scale is None:
        return None
    if callable(scale):
        arity = _arity(scale, "scale", claim_id)
        return lambda case, ctx: _as_float(_call(scale, arity, case, ctx), "scale" + _where(scale), claim_id)
    value = float(scale)
    if not (value >= 0 and math.isfinite(value)):
        raise ClaimDefinitionError(f"Claim {claim_id!r}: got scale={scale!r}; it must be finite and >= 0.")
    return lambda case, ctx: value


def _cases_factory(cases: Any, claim_id: str) -> Callable[[], Any]:
    from hypothesis.strategies import SearchStrategy

    if isinstance(cases, SearchStrategy):
        return lambda: cases
    if callable(cases):
        return cases
    raise ClaimDefinitionError(f"Claim {claim_id!r}: cases= must be a Hypothesis strategy or a function "
                               f"returning one, got {type(cases).__name__}.")


def _common(claim_id: str, lhs: Side, rhs: Side, depth: Any) -> tuple[int, int]:
    if not isinstance(claim_id, str):
        raise ClaimDefinitionError(f"A claim id is a string like 'my-bound', got {claim_id!r}.")
    try:
        Tolerance("float64", depth)
    except (TypeError, ValueError):
        raise ClaimDefinitionError(f"Claim {claim_id!r}: got depth={depth!r}; it must be a positive finite "
                                   "number (default 1024, see docs/tolerance.md).") from None
    return _arity(lhs, "lhs", claim_id), _arity(rhs, "rhs", claim_id)


def inequality(
    id: str,
    *,
    statement: str,
    cases: Any,
    lhs: Side,
    rhs: Side,
    scale: float | Callable[..., Any] | None = None,
    expected: str = "holds",
    source: str = "user claim",
    hypotheses: tuple[str, ...] = (),
    title: str = "",
    symbolic: Callable[[], SymbolicResult] | None = None,
    depth: float = 1024.0,
    decode_case: Callable[[Any], Any] | None = None,
) -> Claim:
    r"""A claim ``lhs(case) <= rhs(case)`` for every generated case.

    Args:
        id: letters, digits and dashes (``my-bound``).
        statement: the statement in LaTeX.
        cases: a Hypothesis strategy, or a function returning one.
        lhs, rhs: ``(case) -> float`` or ``(case, ctx) -> float`` (0-dim tensors are fine).
        scale: size of the terms that cancel (number or function of the case);
            default ``|lhs| + |rhs|``.
        expected: ``holds`` or ``refuted``.
        depth: the factor :math:`c` of the tolerance :math:`c\,\varepsilon\,s`. The default
            1024 (about ``2.3e-13 * scale`` in float64) leaves room for the cancellation that
            user code rarely states (``1 - tanh(x)**2`` near saturation); a real violation of
            relative size 1e-8 of the scale or more is still found in float64.
        decode_case: rebuild a case from its JSON for ``--replay`` (default: verify's own
            case types by their ``type`` tag, anything else as the plain JSON value).

    Raises:
        ClaimDefinitionError: for a malformed definition (named, with the fix).
    """
    la, ra = _common(id, lhs, rhs, depth)
    scale_of = _scale_fn(scale, id)

    def check(case: Any, ctx: CheckContext) -> CaseResult:
        a_raw, b_raw = _call(lhs, la, case, ctx), _call(rhs, ra, case, ctx)
        a, b = _as_float(a_raw, "lhs" + _where(lhs), id), _as_float(b_raw, "rhs" + _where(rhs), id)
        s = scale_of(case, ctx) if scale_of is not None else abs(a) + abs(b)
        tol = Tolerance(_tolerance_dtype(a_raw, b_raw, ctx), depth)
        return CaseResult(compare_leq(a, b, s, tol), _case_tags(case), tolerance=tol.describe())

    return Claim(id=id, statement=statement, source=source, expected=expected, hypotheses=tuple(hypotheses),
                 symbolic=symbolic, cases=_cases_factory(cases, id), check=check, relation="inequality",
                 decode_case=decode_case or _default_decoder(), title=title or id)


def identity(
    id: str,
    *,
    statement: str,
    cases: Any,
    lhs: Side,
    rhs: Side,
    scale: float | Callable[..., Any] | None = None,
    expected: str = "holds",
    source: str = "user claim",
    hypotheses: tuple[str, ...] = (),
    title: str = "",
    symbolic: Callable[[], SymbolicResult] | None = None,
    depth: float = 1024.0,
    decode_case: Callable[[Any], Any] | None = None,
    complex_values: bool = False,
) -> Claim:
    r"""A claim ``lhs(case) == rhs(case)`` (numbers or tensors of one shape), judged by the worst entry.

    Arguments as for :func:`inequality`; the default scale is the largest absolute entry of
    either side (1 when both are zero).

    Args:
        complex_values: the sides may be complex (numbers, numpy arrays or tensors): they are compared
            with the complex modulus, :math:`\max_i |a_i - b_i|` (real and imaginary parts both count),
            and the default scale is the largest modulus. Without it a complex side is an ``error``
            verdict: its imaginary part would otherwise be dropped.
    """
    la, ra = _common(id, lhs, rhs, depth)
    if not isinstance(complex_values, bool):
        raise ClaimDefinitionError(f"Claim {id!r}: got complex_values={complex_values!r}; it must be True or False.")
    scale_of = _scale_fn(scale, id)

    def check(case: Any, ctx: CheckContext) -> CaseResult:
        from verify.numeric import compare_tensors

        a_raw, b_raw = _call(lhs, la, case, ctx), _call(rhs, ra, case, ctx)
        a = _side_tensor(a_raw, "lhs" + _where(lhs), id, complex_values)
        b = _side_tensor(b_raw, "rhs" + _where(rhs), id, complex_values)
        if a.shape != b.shape:
            raise UserCodeError(f"Claim {id!r}: lhs has shape {tuple(a.shape)} and rhs {tuple(b.shape)}; "
                                "an identity compares tensors of the same shape.")
        finite = [t.abs().max().item() for t in (a, b) if t.numel() and bool(t.isfinite().all())]
        s = scale_of(case, ctx) if scale_of is not None else (max(finite, default=0.0) or 1.0)
        tol = Tolerance(_tolerance_dtype(a_raw, b_raw, ctx), depth)
        if a.numel() == 0:  # nothing to compare: not evidence for the identity
            empty = Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0)
            return CaseResult(empty, details={"reason": "both sides are empty tensors"}, tolerance=tol.describe())
        if a.is_complex() or b.is_complex():
            return _compare_complex(a, b, s, tol, id)
        return CaseResult(compare_tensors(a, b, s, tol), _case_tags(case), tolerance=tol.describe())

    return Claim(id=id, statement=statement, source=source, expected=expected, hypotheses=tuple(hypotheses),
                 symbolic=symbolic, cases=_cases_factory(cases, id), check=check, relation="equality",
                 decode_case=decode_case or _default_decoder(), title=title or id)


def _side_tensor(value: Any, what: str, claim_id: str, complex_values: bool) -> Any:
    """A side's value as a float64 (or, with ``complex_values``, complex128) CPU tensor."""
    import torch

    try:
        is_complex = (value if isinstance(value, torch.Tensor) else torch.as_tensor(value)).is_complex()
        dtype = torch.complex128 if is_complex else torch.float64
        if not is_complex or complex_values:
            return torch.as_tensor(value, dtype=dtype).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UserCodeError(f"Claim {claim_id!r}: lhs/rhs must return numbers or tensors ({exc}).") from None
    raise UserCodeError(
        f"Claim {claim_id!r}: {what} returned complex numbers, and complex numbers are not compared unless the "
        "claim says so: pass complex_values=True to verify.identity to compare them (real and imaginary "
        "parts), or return the real quantity the claim is about (.real, abs(...)).")


def _compare_complex(a: Any, b: Any, scale: float, tol: Tolerance, claim_id: str) -> CaseResult:
    """Judge ``a = b`` for complex tensors by the largest modulus :math:`|a_i - b_i|`."""
    import torch

    a, b = a.to(torch.complex128), b.to(torch.complex128)
    for name, t in (("lhs", a), ("rhs", b)):
        if not bool(t.isfinite().all()):
            raise UserCodeError(f"Claim {claim_id!r}: {name} has non-finite entries; a comparison needs finite "
                                "numbers: check for overflow, log(0) or 0/0.")
    diff = (a - b).abs().reshape(-1)
    i = int(torch.argmax(diff))
    x, y = complex(a.reshape(-1)[i]), complex(b.reshape(-1)[i])
    comparison = compare_close(x.real, y.real, scale, tol, abs_err=float(diff[i]))
    details = {"compared": "complex modulus |lhs - rhs| (lhs, rhs: real parts at the worst entry)",
               "lhs_complex": [x.real, x.imag], "rhs_complex": [y.real, y.imag]}
    return CaseResult(comparison, details=details, tolerance=tol.describe())


def _default_decoder() -> Callable[[Any], Any]:
    from verify.strategies import decode_case_json  # numpy and Hypothesis: imported when a claim is built

    return decode_case_json
