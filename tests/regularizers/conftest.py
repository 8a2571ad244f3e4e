"""Shared, module-independent helpers: cards are computed once per test module (module-scoped fixtures)."""

from __future__ import annotations

from verify.regularizers import check_regularizer


def run(fn, **kw):
    """check_regularizer on the CPU (same verdicts on every machine; the GPU path is exercised by the CLI)."""
    kw.setdefault("device", "cpu")
    return check_regularizer(fn, **kw)


def by_id(card):
    return {v.claim: v for v in card.checks}
