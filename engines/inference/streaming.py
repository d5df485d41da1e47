"""Helpers for text that arrives in pieces: a tag or a stop string can be split across tokens.

`held_back(buf, needles)` is the length of the longest tail of `buf` that could still grow into
one of `needles`; that tail must not be shown yet. `StopMatcher` uses it to cut the stream at a
stop string without ever showing part of one.
"""

from __future__ import annotations

from collections.abc import Iterable


def held_back(buf: str, needles: Iterable[str]) -> int:
    """Length of the longest suffix of buf that is a proper prefix of some needle."""
    best = 0
    for n in needles:
        for k in range(min(len(n) - 1, len(buf)), best, -1):
            if buf.endswith(n[:k]):
                best = k
                break
    return best


class StopMatcher:
    """Feed text pieces; get back what is safe to show, and whether a stop string was hit."""

    def __init__(self, stops: Iterable[str]):
        self.stops = [s for s in stops if s]
        self._buf = ""
        self.stopped_on: str | None = None

    def feed(self, piece: str) -> tuple[str, bool]:
        self._buf += piece
        if self.stops:
            hits = [(self._buf.find(s), s) for s in self.stops if s in self._buf]
            if hits:
                at, s = min(hits)
                out, self._buf = self._buf[:at], ""
                self.stopped_on = s
                return out, True
        keep = held_back(self._buf, self.stops)
        out = self._buf[: len(self._buf) - keep]
        self._buf = self._buf[len(self._buf) - keep :]
        return out, False

    def flush(self) -> str:
        """At the end of generation, whatever was held back is plain text after all."""
        out, self._buf = self._buf, ""
        return out
