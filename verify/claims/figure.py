"""Plot data carried in a verdict's evidence, drawn by the report writer as inline SVG.

A claim (or a regularizer check) describes *what* to plot; :mod:`verify.report` decides
*how*. Figures live in ``verdict.numeric["figures"]`` as the plain dicts of
:meth:`Figure.to_json`:

.. code-block:: text

    {"kind": "line" | "histogram", "title": str, "x_label": str, "y_label": str,
     "x_log": bool, "y_log": bool, "caption": str,
     "series": [{"label": str, "x": [float, ...], "y": [float, ...], "style": "line" | "points"}],
     "marks":  [{"axis": "x" | "y", "value": float, "label": str}]}

``kind="histogram"``: each series' ``x`` holds the sample values and ``y`` is empty.
A mark is a reference line: ``axis="x"`` a vertical line at ``x = value`` (``2/M`` on a
step-size axis), ``axis="y"`` a horizontal one (ratio 1 on a ratio axis).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verify.errors import InvalidInputError

__all__ = ["Figure", "Mark", "Series"]

_KINDS = ("line", "histogram")
_STYLES = ("line", "points")


def _floats(values: Iterable[Any], what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a sequence of numbers.") from None
    return out


@dataclass(frozen=True)
class Series:
    """One curve (``x``, ``y`` of equal length) or one histogram sample (``x`` only)."""

    label: str
    x: Sequence[float]
    y: Sequence[float] = ()
    style: str = "line"

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _floats(self.x, f"Series {self.label!r}: x"))
        object.__setattr__(self, "y", _floats(self.y, f"Series {self.label!r}: y"))
        if self.style not in _STYLES:
            raise InvalidInputError(f"Series style {self.style!r} is not one of {_STYLES}.")
        if self.y and len(self.y) != len(self.x):
            raise InvalidInputError(
                f"Series {self.label!r}: x has {len(self.x)} values and y {len(self.y)}; "
                "give equal lengths (or no y for a histogram).")

    def to_json(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return v if math.isfinite(v) else None
        return {"label": self.label, "x": [clean(v) for v in self.x],
                "y": [clean(v) for v in self.y], "style": self.style}


@dataclass(frozen=True)
class Mark:
    """A reference line: vertical at ``x = value`` (``axis="x"``) or horizontal (``axis="y"``)."""

    value: float
    label: str
    axis: str = "x"

    def __post_init__(self) -> None:
        if self.axis not in ("x", "y"):
            raise InvalidInputError(f"Mark axis {self.axis!r} must be 'x' or 'y'.")
        object.__setattr__(self, "value", float(self.value))

    def to_json(self) -> dict[str, Any]:
        return {"axis": self.axis, "value": self.value if math.isfinite(self.value) else None,
                "label": self.label}


@dataclass(frozen=True)
class Figure:
    """A plot for a report: line plot of series, or a histogram of samples."""

    title: str
    series: Sequence[Series]
    kind: str = "line"
    x_label: str = ""
    y_label: str = ""
    x_log: bool = False
    y_log: bool = False
    marks: Sequence[Mark] = field(default_factory=tuple)
    caption: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InvalidInputError(f"Figure kind {self.kind!r} is not one of {_KINDS}.")
        object.__setattr__(self, "series", tuple(self.series))
        object.__setattr__(self, "marks", tuple(self.marks))
        for s in self.series:
            if not isinstance(s, Series):
                raise InvalidInputError(f"Figure {self.title!r}: series must be verify.Series, got {type(s).__name__}.")
            if self.kind == "line" and len(s.y) != len(s.x):
                raise InvalidInputError(f"Figure {self.title!r}: line series {s.label!r} needs y values.")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "x_label": self.x_label,
                "y_label": self.y_label, "x_log": self.x_log, "y_log": self.y_log,
                "caption": self.caption, "series": [s.to_json() for s in self.series],
                "marks": [m.to_json() for m in self.marks]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figure:
        """Inverse of :meth:`to_json` (``None`` values become NaN)."""
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)
        try:
            return cls(
                title=str(data["title"]), kind=str(data.get("kind", "line")),
                x_label=str(data.get("x_label", "")), y_label=str(data.get("y_label", "")),
                x_log=bool(data.get("x_log", False)), y_log=bool(data.get("y_log", False)),
                caption=str(data.get("caption", "")),
                series=[Series(label=str(s.get("label", "")), x=[num(v) for v in s.get("x", [])],
                               y=[num(v) for v in s.get("y", [])], style=str(s.get("style", "line")))
                        for s in data.get("series", [])],
                marks=[Mark(value=num(m.get("value")), label=str(m.get("label", "")),
                            axis=str(m.get("axis", "x"))) for m in data.get("marks", [])],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInputError(f"Not a figure: {exc!s}. A figure needs 'title' and 'series'.") from None
