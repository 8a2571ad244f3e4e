"""Seeded searches draw the same cases whatever else is imported."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["module_independent_generation"]


@contextlib.contextmanager
def module_independent_generation() -> Iterator[None]:
    """Make Hypothesis's generation independent of which local modules happen to be imported.

    Hypothesis (6.1xx) mixes constants found in "local" modules (everything outside
    site-packages, which includes an editable install of verify, proofs/ and the user's
    file) into generation. Then ``verify check`` and ``verify report`` (which imports the
    report writer) or a pytest session draw different cases for the same seed. During a
    search the local pool is emptied (Hypothesis's built-in constants still apply); if the
    internals move in a later Hypothesis, this silently does nothing.
    """
    try:
        from hypothesis.internal.conjecture import providers

        original = providers._get_local_constants
        empty = providers.Constants()
        cache = providers.CONSTANTS_CACHE
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - other Hypothesis versions
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.cache.clear()
