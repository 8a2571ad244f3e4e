"""Private (de)serialization helpers shared by the case dataclasses.

An array becomes ``{"dtype": "float64" | "int64", "shape": [...], "data": [...]}``
with ``data`` the row-major (C order) entries as plain Python numbers. A finite
float64 goes out as a Python ``float``, whose ``repr`` (what :mod:`json` writes)
round-trips exactly, ``-0.0`` included; a non-finite one as the string ``"nan"``,
``"inf"`` or ``"-inf"`` (strict JSON has no such numbers; a NaN's payload bits are
not kept). The shape is stored separately, so empty and 1-wide dimensions survive.

The same module writes the exact, pasteable ``repr`` of arrays used by the cases'
``__repr__`` (numpy's own ``repr`` rounds to 8 digits, which would turn a shrunk
counterexample into a different case when pasted back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verify.errors import InvalidInputError

_DTYPES = {"float64": np.float64, "int64": np.int64}
_NONFINITE_OUT = {math.inf: "inf", -math.inf: "-inf"}
_NONFINITE_IN = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float_out(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else _NONFINITE_OUT[value]


def array_to_json(array: np.ndarray) -> dict[str, Any]:
    """``array`` (float64 or int64) as a JSON-ready dict that round-trips exactly."""
    a = np.asarray(array)
    if a.dtype == np.float64:
        data: list[Any] = [_float_out(v) for v in a.ravel(order="C").tolist()]
    elif a.dtype == np.int64:
        data = [int(v) for v in a.ravel(order="C").tolist()]
    else:  # the cases only ever hold these two dtypes
        raise InvalidInputError(
            f"Got an array of dtype {a.dtype}, but valid dtypes are float64 and int64."
        )
    return {"dtype": str(a.dtype), "shape": [int(n) for n in a.shape], "data": data}


def _number_in(value: Any, dtype: str, where: str) -> float | int:
    if dtype == "int64":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"Got {value!r} in {where}, but int64 data must be integers.")
        return value
    if isinstance(value, str) and value in _NONFINITE_IN:
        return _NONFINITE_IN[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(
            f"Got {value!r} in {where}, but float64 data must be numbers or one of "
            f"{sorted(_NONFINITE_IN)}."
        )
    return float(value)


def array_from_json(data: Any, *, where: str, dtype: str | None = None,
                    ndim: int | None = None) -> np.ndarray:
    """Inverse of :func:`array_to_json`; returns a read-only array.

    Args:
        data: the dict written by :func:`array_to_json`.
        where: the field name, quoted in error messages.
        dtype: the dtype the field must have (``None``: any of float64/int64).
        ndim: the number of dimensions the field must have (``None``: any).

    Raises:
        InvalidInputError: ``data`` is not such a dict, or has the wrong dtype/ndim,
            or its ``data`` does not hold ``prod(shape)`` numbers.
    """
    if not isinstance(data, Mapping) or set(data) != {"dtype", "shape", "data"}:
        raise InvalidInputError(
            f"Got {where}={data!r}, but an array must be a dict with exactly the keys "
            "'dtype', 'shape' and 'data' (as written by to_json)."
        )
    kind = data["dtype"]
    if kind not in _DTYPES or (dtype is not None and kind != dtype):
        valid = [dtype] if dtype is not None else list(_DTYPES)
        raise InvalidInputError(f"Got dtype={kind!r} for {where}, but valid values are {valid}.")
    shape = data["shape"]
    if (not isinstance(shape, Sequence) or isinstance(shape, str)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise InvalidInputError(
            f"Got shape={shape!r} for {where}, but a shape must be a list of non-negative integers."
        )
    if ndim is not None and len(shape) != ndim:
        raise InvalidInputError(
            f"Got shape={list(shape)!r} for {where}, but it must have {ndim} dimension(s)."
        )
    values = data["data"]
    size = math.prod(shape)
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != size:
        raise InvalidInputError(
            f"Got {len(values) if isinstance(values, Sequence) else values!r} entries for "
            f"{where} of shape {list(shape)!r}, but it needs exactly {size}."
        )
    numbers = [_number_in(v, kind, where) for v in values]
    out = np.array(numbers, dtype=_DTYPES[kind]).reshape(tuple(shape))
    out.flags.writeable = False
    return out


def _nested_repr(obj: Any) -> str:
    if isinstance(obj, list):
        return "[" + ", ".join(_nested_repr(v) for v in obj) + "]"
    if isinstance(obj, float) and not math.isfinite(obj):
        return f"float({_float_out(obj)!r})"
    return repr(obj)


def array_repr(array: np.ndarray) -> str:
    """An exact, pasteable expression for ``array`` (assuming ``import numpy as np``)."""
    a = np.asarray(array)
    dtype = "" if a.dtype == np.float64 else f", dtype=np.{a.dtype}"
    if a.size == 0 or a.ndim == 0:
        return f"np.zeros({a.shape!r}{dtype})" if a.size == 0 else f"np.array({_nested_repr(a.item())}{dtype})"
    return f"np.array({_nested_repr(a.tolist())}{dtype})"


def check_mapping(data: Any, cls_name: str, required: Sequence[str],
                  optional: Sequence[str] = ()) -> Mapping[str, Any]:
    """Check that ``data`` is the dict ``cls_name.to_json`` writes (type tag and keys)."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"Got {type(data).__name__} for {cls_name}.from_json, but it needs the dict "
            f"written by {cls_name}.to_json()."
        )
    if data.get("type") != cls_name:
        raise InvalidInputError(
            f"Got type={data.get('type')!r}, but {cls_name}.from_json needs type={cls_name!r}."
        )
    keys = set(data) - {"type"}
    missing = sorted(set(required) - keys)
    extra = sorted(keys - set(required) - set(optional))
    if missing or extra:
        raise InvalidInputError(
            f"Got keys {sorted(keys)} for {cls_name}, but valid keys are {sorted(required)} "
            f"(optional: {sorted(optional)}); missing {missing}, unexpected {extra}."
        )
    return data


def int_tuple(values: Any, where: str) -> tuple[int, ...]:
    """A JSON list of integers as a tuple."""
    if (not isinstance(values, Sequence) or isinstance(values, str)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)):
        raise InvalidInputError(f"Got {where}={values!r}, but it must be a list of integers.")
    return tuple(values)


def str_tuple(values: Any, where: str) -> tuple[str, ...]:
    """A JSON list of strings as a tuple."""
    if (not isinstance(values, Sequence) or isinstance(values, str)
            or not all(isinstance(v, str) for v in values)):
        raise InvalidInputError(f"Got {where}={values!r}, but it must be a list of strings.")
    return tuple(values)
