"""Plain renderings for a regularizer card: any ``numeric`` dict, the settings, a docstring title.

A card's checks each put their own keys in ``numeric`` (the curvature at each point,
the λ path, the kink probes …), so the claim-evidence table, which knows only the keys
of a claim's search, would show "—" everywhere. Here a dict is shown as it is: scalar
values as rows, nested dicts as nested tables, lists of numbers shortened to their ends,
lists of dicts as a table with a row each (shortened too). Keys become words
(``max_rel_err`` → "max rel err"); ``figures`` are left out (they are drawn as plots).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from verify.report._page import esc, fmt_num

__all__ = ["card_title_html", "card_title_markdown", "card_title_text", "label", "numeric_html",
           "numeric_markdown", "setting_rows"]

_SKIP = {"figures"}
_SKIP_EMPTY = {"distribution", "boundary_cases_hit"}  # what the page's normalization adds to every block
_LIST_ENDS = 4  # a long list shows this many values at each end
_ROWS = 12  # a list of dicts shows at most this many rows
_MAX_DEPTH = 3

_SETTING_LABEL = {
    "lam": "λ (regularization strength)",
    "lams": "λ grid (constraint check)",
    "task": "training task",
    "task_description": "training task",
    "device": "device",
    "dtype": "dtype",
    "seed": "seed",
    "torch_threads": "torch threads",
    "user_grad": "your analytic gradient (--grad) checked",
    "user_hvp": "your Hessian-vector product (--hvp) checked",
    "checks": "checks run",
}


def label(key: Any) -> str:
    """A key as words: ``max_rel_err`` → ``max rel err`` (``L+lamR`` → ``L+λR``)."""
    text = str(key).replace("_", " ").strip()
    return re.sub(r"lam(?=[A-Z]|\b)", "λ", text)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _short_list(values: Sequence[Any]) -> str:
    """``[1, 2, …, 9]`` with the count when shortened (plain text, not escaped)."""
    shown = [fmt_num(x) if _scalar(x) else "…" for x in values]
    if len(shown) > 2 * _LIST_ENDS + 1:
        return f"[{', '.join(shown[:_LIST_ENDS])}, …, {', '.join(shown[-_LIST_ENDS:])}] ({len(shown)} values)"
    return f"[{', '.join(shown)}]"


def _compact(value: Any, depth: int = 0) -> str:
    """One line of plain text for a value (nested dicts as ``key=value``)."""
    if _scalar(value):
        return fmt_num(value)
    if isinstance(value, Mapping):
        if depth >= _MAX_DEPTH:
            return "{…}"
        return ", ".join(f"{label(k)}={_compact(v, depth + 1)}" for k, v in value.items() if k not in _SKIP)
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return "none"
        if all(_scalar(x) for x in value):
            return _short_list(value)
        return f"{len(value)} entries"
    return str(value)


def _dict_list_html(items: Sequence[Mapping[str, Any]], depth: int) -> str:
    keys: list[str] = []
    for item in items[:_ROWS]:
        keys += [k for k in item if k not in keys and k not in _SKIP]
    head = "".join(f"<th>{esc(label(k))}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{_value_html(item.get(k), depth + 1)}</td>" for k in keys) + "</tr>"
                   for item in items[:_ROWS])
    more = (f'<p class="muted">… {len(items) - _ROWS} more rows in the JSON.</p>' if len(items) > _ROWS else "")
    return f'<div class="scroll"><table class="generic"><tr>{head}</tr>{rows}</table></div>{more}'


def _value_html(value: Any, depth: int) -> str:
    if _scalar(value):
        return esc(fmt_num(value))
    if isinstance(value, Mapping):
        if depth >= _MAX_DEPTH or all(_scalar(v) for v in value.values()) and (len(value) <= 3 or depth > 0):
            return esc(_compact(value))
        return _dict_html(value, depth + 1)
    if isinstance(value, Sequence) and not isinstance(value, str):
        if value and all(isinstance(x, Mapping) for x in value) and depth < _MAX_DEPTH:
            return _dict_list_html(value, depth)
        return esc(_compact(value))
    return esc(value)


def _dict_html(data: Mapping[str, Any], depth: int = 0) -> str:
    rows = "".join(f"<tr><td>{esc(label(k))}</td><td>{_value_html(v, depth)}</td></tr>"
                   for k, v in data.items() if k not in _SKIP)
    return f'<table class="meta generic">{rows}</table>'


def _shown(num: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in num.items() if k not in _SKIP and not (k in _SKIP_EMPTY and not v)}


def numeric_html(num: Mapping[str, Any]) -> str:
    """A check's ``numeric`` dict as HTML tables (everything escaped)."""
    shown = _shown(num)
    if not shown:
        return '<p class="muted">Nothing recorded besides the plots.</p>'
    return _dict_html(shown)


def _md(text: str) -> str:
    """Markdown-safe text: HTML specials escaped, pipes escaped, runs of whitespace as one space."""
    import html

    return html.escape(re.sub(r"\s+", " ", text), quote=False).replace("|", "\\|")


def _cell(text: str) -> str:
    return _md(text).strip()


def numeric_markdown(num: Mapping[str, Any]) -> list[str]:
    """The same as a two-column Markdown table (nested values compacted to one line each)."""
    lines = ["| quantity | value |", "|---|---|"]
    for k, v in _shown(num).items():
        if isinstance(v, Sequence) and not isinstance(v, str) and v and all(isinstance(x, Mapping) for x in v):
            lines += [f"| {_cell(label(k))} [{i}] | {_cell(_compact(x))} |" for i, x in enumerate(v[:_ROWS])]
            if len(v) > _ROWS:
                lines.append(f"| {_cell(label(k))} | … {len(v) - _ROWS} more in the JSON |")
        else:
            lines.append(f"| {_cell(label(k))} | {_cell(_compact(v))} |")
    return lines


def setting_rows(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) as plain text for a card's settings, in words a user knows."""
    out: list[tuple[str, str]] = []
    described = "task_description" in settings
    for k, v in settings.items():
        if k == "task" and described:
            continue  # the description says more than the task's short name
        if k == "task_description" and "task" in settings:
            v = f"{v} ({'--model/--data' if settings['task'] == 'user' else '--task ' + str(settings['task'])})"
        if k == "checks" and isinstance(v, Sequence) and not isinstance(v, str):
            v = ", ".join(map(str, v))
        out.append((_SETTING_LABEL.get(str(k), label(k)), _compact(v)))
    return out


_RST_MATH = re.compile(r":math:`([^`]*)`")


def card_title_text(title: str) -> str:
    """A docstring title without reStructuredText roles (for ``<title>``)."""
    return _RST_MATH.sub(lambda m: m.group(1), title)


def card_title_html(title: str) -> str:
    """A docstring title with ``:math:`…``` rendered as MathML, the rest escaped."""
    from verify.report.mathml import math_html

    out, last = [], 0
    for m in _RST_MATH.finditer(title):
        out += [esc(title[last:m.start()]), math_html(m.group(1))]
        last = m.end()
    return "".join(out) + esc(title[last:])


def card_title_markdown(title: str) -> str:
    """The Markdown form: ``:math:`…``` as ``$…$``, the rest escaped."""
    out, last = [], 0
    for m in _RST_MATH.finditer(title):
        math = m.group(1).replace("<", r"\lt ").replace(">", r"\gt ")
        out += [_md(title[last:m.start()]), "$" + " ".join(math.split()) + "$"]
        last = m.end()
    return ("".join(out) + _md(title[last:])).strip()
