"""Context limits in sight: count a turn's prompt against the model's context window, and
either drop the oldest turns (the chat, which says what it dropped) or refuse (the server).

    fit = fit_context(req, count_tokens, limit=4096, on_overflow="drop")
    fit.prompt_tokens, fit.reserve, fit.dropped      # dropped: the messages left out, oldest first
    fit.to_dict()                                    # stored in the answer's meta, sent as an event

`reserve` is what the turn may still generate: the visible answer, plus in reasoning mode the
thinking budget and the scaffold instruction. A prompt fits when prompt + reserve <= limit, so
llama.cpp never has to shorten the answer either. The system prompt and the newest user
message are never dropped; when they alone do not fit, ContextOverflow says by how much.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engines.inference.turn import TurnRequest, render_prompt

SCAFFOLD_ALLOWANCE = 64  # tokens of the reasoning scaffold, the think tags and their newlines
WARN_FRACTION = 0.85  # the chat warns when a conversation plus the next answer passes this share


class ContextOverflow(ValueError):
    def __init__(self, prompt_tokens: int, reserve: int, limit: int, what: str = "the request"):
        self.prompt_tokens, self.reserve, self.limit = prompt_tokens, reserve, limit
        super().__init__(
            f"{what} needs {prompt_tokens} prompt tokens plus {reserve} for the answer, "
            f"more than the model's context of {limit} tokens"
        )


@dataclass
class ContextFit:
    prompt_tokens: int
    reserve: int
    limit: int | None
    dropped: list[dict] = field(default_factory=list)

    @property
    def fraction(self) -> float | None:
        return None if not self.limit else min(1.0, (self.prompt_tokens + self.reserve) / self.limit)

    def note(self) -> str:
        """What was dropped, in words ('' when nothing was)."""
        if not self.dropped:
            return ""
        first = " ".join(self.dropped[0]["content"].split())
        first = first[:60] + ("…" if len(first) > 60 else "")
        n = len(self.dropped)
        return (f"Left out the oldest {n} message{'s' if n > 1 else ''} to fit the context of {self.limit} tokens "
                f"(from “{first}”). They stay in the conversation but the model no longer sees them.")

    def to_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "reserve": self.reserve,
            "limit": self.limit,
            "fraction": None if self.fraction is None else round(self.fraction, 4),
            "dropped": len(self.dropped),
            "note": self.note(),
        }


def reserve_for(req: TurnRequest) -> int:
    if req.mode == "reasoning":
        return req.max_tokens + req.budget.max_tokens + SCAFFOLD_ALLOWANCE
    return req.max_tokens


def fit_context(
    req: TurnRequest, count_tokens: Callable[[str], int], limit: int | None, on_overflow: str = "drop"
) -> ContextFit:
    """Shrink `req.messages` in place (oldest user/assistant turns first) until the turn fits.

    on_overflow: "drop" (the chat) or "error" (raise ContextOverflow at once: the server).
    With no known limit (a remote server) the prompt is only counted."""
    if on_overflow not in ("drop", "error"):
        raise ValueError(f"on_overflow must be drop or error, got {on_overflow!r}")
    reserve = reserve_for(req)
    dropped: list[dict] = []
    while True:
        used = count_tokens(render_prompt(req)) + 1  # + BOS, which the backend adds
        if limit is None or used + reserve <= limit:
            return ContextFit(used, reserve, limit, dropped)
        if on_overflow == "error":
            raise ContextOverflow(used, reserve, limit)
        start = 1 if req.messages[0].get("role") == "system" else 0
        if len(req.messages) - start <= 1:
            raise ContextOverflow(used, reserve, limit, "Your message alone")
        # a user turn and the answer to it go together, so the template still alternates
        n = 2 if len(req.messages) - start > 2 and req.messages[start + 1].get("role") == "assistant" else 1
        dropped += req.messages[start:start + n]
        del req.messages[start:start + n]
