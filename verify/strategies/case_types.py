"""The open table of case types, and :class:`Case`, the base a claim family's own cases extend.

Every case that a verdict stores must come back from its JSON for ``--replay`` and ``verify report
--from``. :func:`case_from_json` dispatches on the ``"type"`` key through a table that any family
extends with :func:`case_type`; the built-in MLP, softmax and block-matrix cases are in it too.

A family's own case is a few annotated fields::

    @verify.case_type
    class Quadratic(verify.Case):
        \"\"\"L(θ) = ½ θᵀQθ.\"\"\"
        Q: np.ndarray
        theta: np.ndarray

and gets from :class:`Case` what the built-in cases have: a frozen dataclass whose arrays are
read-only float64 copies, bitwise equality and hashing, an exact ``repr``, boundary ``tags`` computed
from its arrays, and ``to_json``/``from_json`` (``{"type": NAME, field: value ...}``, arrays as nested
lists; a case may override both to keep another layout).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from verify.errors import InvalidInputError
from verify.strategies._case_base import TAGS, _Case, _is_large, _is_rank_one, _is_tiny

__all__ = ["Case", "case_from_json", "case_type", "case_types", "decode_case_json"]

_CASE_TYPES: dict[str, type] = {}
C = TypeVar("C", bound=type)


def case_type(cls: C) -> C:
    """Class decorator: make ``cls`` a frozen case dataclass (if it is not one yet) and register its type name.

    The name is ``cls._TYPE`` when the class sets it, else the class name; it is the ``"type"`` key of the
    case's JSON. Registering the same name for two different classes is an error (a replay would build
    the wrong case); registering a class again (a module imported twice) replaces it.
    """
    if not isinstance(cls, type):
        raise InvalidInputError(f"case_type decorates a class, got {type(cls).__name__}.")
    if "_TYPE" not in vars(cls):
        cls._TYPE = cls.__name__  # type: ignore[attr-defined]
    if not dataclasses.is_dataclass(cls) or "__dataclass_fields__" not in vars(cls):
        cls = dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)  # type: ignore[assignment]
    name = cls._TYPE  # type: ignore[attr-defined]
    other = _CASE_TYPES.get(name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise InvalidInputError(
            f"Two case types are named {name!r} ({other.__module__}.{other.__qualname__} and "
            f"{cls.__module__}.{cls.__qualname__}); set _TYPE on one of them to another name.")
    _CASE_TYPES[name] = cls
    return cls


def case_types() -> dict[str, type]:
    """Type name -> class, for every registered case type."""
    return dict(_CASE_TYPES)


def case_from_json(data: Mapping[str, Any]) -> Any:
    """Rebuild any registered case from its ``to_json()`` dict, dispatching on ``data["type"]``.

    Raises:
        InvalidInputError: the type is unknown or the dict is malformed.
    """
    kind = data.get("type") if isinstance(data, Mapping) else None
    if kind not in _CASE_TYPES:
        raise InvalidInputError(
            f"Got type={kind!r}, but valid case types are {sorted(_CASE_TYPES)}. A family's own case type is "
            "registered when its module is imported: name its claim (or its library) in the same run.")
    return _CASE_TYPES[kind].from_json(data)


_NONFINITE = ("nan", "inf", "-inf")
#: the kinds of a rectangular list's entries -> the dtype of the array it becomes
_ARRAY_DTYPES = {frozenset(): np.float64, frozenset({"float"}): np.float64, frozenset({"int"}): np.int64,
                 frozenset({"complex"}): np.complex128}


def decode_case_json(data: Any) -> Any:
    """Rebuild a case from its JSON: the default ``decode_case`` of every claim.

    verify's case types come back by their ``type`` tag; a rectangular list of floats
    becomes a float64 numpy array (what :func:`verify.logits`, :func:`verify.vectors` and
    :func:`verify.matrices` generate), of integers an int64 array, of complex numbers a complex128
    array; other lists (ragged, or mixing kinds, such as a tuple ``(3, 0.5)``) and dicts are decoded
    entry by entry, so integers stay Python ints; ``{"complex": [re, im]}`` (how :func:`verify.claims.to_plain`
    writes a complex number) becomes a complex again and ``"nan"``/``"inf"``/``"-inf"`` strings floats.
    """
    if _is_complex_json(data):
        return complex(*(float(x) for x in data["complex"]))
    if isinstance(data, Mapping):
        if "type" in data:
            return case_from_json(data)
        return {k: decode_case_json(v) for k, v in data.items()}
    if isinstance(data, list):
        items = [decode_case_json(v) for v in data]
        dtype = _ARRAY_DTYPES.get(frozenset(_leaf_kinds(data)))
        if dtype is None:
            return items
        try:
            return np.asarray(items, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            return items
    if isinstance(data, str) and data in _NONFINITE:
        return float(data)
    return data


def _is_complex_json(data: Any) -> bool:
    if not isinstance(data, Mapping) or set(data) != {"complex"}:
        return False
    parts = data["complex"]
    return isinstance(parts, list) and len(parts) == 2 and all(
        (isinstance(x, (int, float)) and not isinstance(x, bool)) or x in _NONFINITE for x in parts)


def _leaf_kinds(data: Any) -> set[str]:
    """The kinds (``int``, ``float``, ``complex``, ``other``) of the numbers in a JSON value, lists flattened."""
    if isinstance(data, list):
        return set().union(*(_leaf_kinds(v) for v in data))
    if isinstance(data, bool):
        return {"other"}
    if isinstance(data, int):
        return {"int"}
    if isinstance(data, float) or (isinstance(data, str) and data in _NONFINITE):
        return {"float"}
    return {"complex"} if _is_complex_json(data) else {"other"}


def _is_array_field(field: dataclasses.Field) -> bool:
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    return "ndarray" in str(annotation)


class Case(_Case):
    """Base of a family's own case types (see the module docstring); use with :func:`case_type`.

    Fields annotated ``np.ndarray`` are stored as read-only float64 copies and written to JSON as nested
    lists; other fields are stored as given and must be JSON values. ``tags`` (a read-only property)
    are the boundary cases the arrays hit: ``width-1`` (an array with a dimension of size 1),
    ``rank-one`` (a matrix of numerical rank 1), ``tiny-scale`` and ``large-scale``
    (see :data:`verify.TAG_DEFINITIONS`); override :meth:`_compute_tags` for more.
    """

    _TYPE: ClassVar[str]

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if _is_array_field(f):
                value = np.array(getattr(self, f.name), dtype=np.float64, copy=True)
                value.flags.writeable = False
                object.__setattr__(self, f.name, value)

    @property
    def tags(self) -> tuple[str, ...]:
        return self._compute_tags()

    def _arrays(self) -> list[np.ndarray]:
        return [v for v in (getattr(self, f.name) for f in dataclasses.fields(self))  # type: ignore[arg-type]
                if isinstance(v, np.ndarray)]

    def _compute_tags(self) -> tuple[str, ...]:
        arrays = self._arrays()
        found = set()
        if any(1 in a.shape for a in arrays):
            found.add("width-1")
        if any(_is_rank_one(a) for a in arrays):
            found.add("rank-one")
        if any(_is_tiny(a) for a in arrays):
            found.add("tiny-scale")
        if any(_is_large(a) for a in arrays):
            found.add("large-scale")
        return tuple(t for t in TAGS if t in found)

    def to_json(self) -> dict[str, Any]:
        """``{"type": NAME, field: value, ...}`` with arrays as nested lists."""
        out: dict[str, Any] = {"type": self._TYPE}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Any:
        """Inverse of :meth:`to_json`.

        Raises:
            InvalidInputError: a field is missing, or an array field is not a list of numbers.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"Got {type(data).__name__} for a {cls._TYPE} case; expected its JSON object.")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                raise InvalidInputError(f"{cls._TYPE} JSON lacks the field {f.name!r} (it has {sorted(data)}).")
            value = data[f.name]
            if _is_array_field(f):
                try:
                    value = np.asarray(value, dtype=np.float64)
                except (TypeError, ValueError):
                    raise InvalidInputError(
                        f"{cls._TYPE} JSON field {f.name!r} is not a (nested) list of numbers.") from None
            values[f.name] = value
        return cls(**values)
