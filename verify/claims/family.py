"""A claim family: the record each ``proofs/<family>/`` package exports beside its ``CLAIMS`` table.

A family is one theorem (or one topic) with the claims that check it and the known mistakes about
it. What its claims share lives here once: where they come from, their standing hypotheses and the
depth factor of their tolerance (``Tolerance(dtype, family.depth)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from verify.claims.model import Claim
from verify.errors import ClaimDefinitionError

__all__ = ["Family"]

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Family:
    """What the claims of one family share.

    Attributes:
        key: the package name (``descent``, ``softmax_ce`` …), letters, digits and underscores.
        title: a short human title.
        source: where the family's statements come from (a claim may add a note, see :meth:`cite`).
        hypotheses: the standing hypotheses, in LaTeX, that a claim uses unless it states its own.
        depth: the depth factor of the family's tolerance, ``depth · eps(dtype) · scale``: about how
            many dependent floating-point operations one side of a check takes.
    """

    key: str
    title: str
    source: str
    hypotheses: tuple[str, ...] = ()
    depth: float = 256.0

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise ClaimDefinitionError(
                f"Got family key {self.key!r}; a key is the package name: lower-case letters, digits and "
                "underscores, e.g. 'softmax_ce'.")
        if not (isinstance(self.depth, (int, float)) and self.depth > 0):
            raise ClaimDefinitionError(f"Family {self.key!r}: depth must be a positive number, got {self.depth!r}.")
        object.__setattr__(self, "hypotheses", tuple(self.hypotheses))

    def cite(self, note: str = "") -> str:
        """The family's source, with a note on where in it this claim comes from."""
        return f"{self.source}; {note}" if note else self.source

    def claim(self, **fields: Any) -> Claim:
        """A :class:`Claim` of this family: ``source`` and ``hypotheses`` default to the family's."""
        fields.setdefault("source", self.source)
        fields.setdefault("hypotheses", self.hypotheses)
        return Claim(family=self.key, **fields)
