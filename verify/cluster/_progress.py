"""Progress of a run on a cluster, on stderr: shards done of all, per claim, and an estimate of the time left."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Lines like ``verify: 12/40 shards, 2/10 claims done; about 1 min 10 s left``, at most one per
    ``every`` seconds while shards finish, and one for each finished claim."""

    def __init__(self, out: TextIO | None, shards: int, claims: int, every: float = 5.0) -> None:
        self.out, self.shards, self.claims, self.every = out, shards, claims, every
        self.shards_done = self.claims_done = 0
        self.start = self.last = time.monotonic()

    def shard_done(self) -> None:
        self.shards_done += 1
        if time.monotonic() - self.last >= self.every:
            self._write("")

    def claim_done(self, claim: str, verdict: str, shards: int) -> None:
        self.claims_done += 1
        self._write(f"{claim}: {verdict} ({shards} shard{'s' if shards != 1 else ''}); ")

    def _write(self, head: str) -> None:
        if self.out is None:
            return
        self.last = time.monotonic()
        self.out.write(f"verify: {head}{self.shards_done}/{self.shards} shards, {self.claims_done}/{self.claims} "
                       f"claims done{self._left()}\n")
        self.out.flush()

    def _left(self) -> str:
        """The time left if the shards still to run take as long as those done, on average."""
        if not self.shards_done or self.shards_done >= self.shards:
            return ""
        left = (time.monotonic() - self.start) * (self.shards - self.shards_done) / self.shards_done
        minutes, seconds = divmod(round(left), 60)
        return f"; about {f'{minutes} min ' if minutes else ''}{seconds} s left"
