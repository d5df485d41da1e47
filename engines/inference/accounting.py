"""Per-turn accounting: where the tokens, the seconds and the money went.

Hidden (thinking) tokens are the System 2 cost: a reasoning turn often spends far more of them
than it shows. Prices are per 1k tokens and set by the user, separately for hidden and visible
tokens (and prompt tokens), so the studio can show both ways of charging for a turn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Prices:
    """Price per 1,000 tokens, in the user's currency."""

    visible_per_1k: float = field(default=0.0, metadata={"help": "price of 1k answer tokens"})
    hidden_per_1k: float = field(default=0.0, metadata={"help": "price of 1k thinking tokens"})
    prompt_per_1k: float = field(default=0.0, metadata={"help": "price of 1k prompt tokens"})

    def __post_init__(self):
        for k, v in asdict(self).items():
            if v < 0:
                raise ValueError(f"price {k} must be >= 0, got {v}")

    @classmethod
    def from_dict(cls, d: dict | None) -> "Prices":
        d = d or {}
        return cls(**{k: float(d[k]) for k in ("visible_per_1k", "hidden_per_1k", "prompt_per_1k") if k in d})

    def cost(self, prompt_tokens: int, visible_tokens: int, hidden_tokens: int) -> float:
        return (
            prompt_tokens * self.prompt_per_1k + visible_tokens * self.visible_per_1k + hidden_tokens * self.hidden_per_1k
        ) / 1000.0


@dataclass
class TurnClock:
    """Timestamps of one turn, from the request (t0) to the last token."""

    t0: float
    first_token: float | None = None  # first generated token, hidden or visible
    first_visible: float | None = None
    last_token: float | None = None
    generated: int = 0

    def token(self, now: float, n: int, visible: bool) -> None:
        if n <= 0:
            return
        if self.first_token is None:
            self.first_token = now
        if visible and self.first_visible is None:
            self.first_visible = now
        self.last_token = now
        self.generated += n


def turn_stats(
    clock: TurnClock,
    end: float,
    *,
    prompt_tokens: int,
    visible_tokens: int,
    hidden_tokens: int,
    prices: Prices,
    thinking_s: float = 0.0,
) -> dict:
    """The accounting of one turn as plain data (stored in the message's meta["stats"]).

    ttft_s is the time to the first *visible* token (what the user waits for); tokens_per_s is
    the decode rate over all generated tokens, hidden ones included, after the first.
    """
    ttft = (clock.first_visible if clock.first_visible is not None else end) - clock.t0
    decode_window = (clock.last_token or end) - (clock.first_token or end)
    rate = (clock.generated - 1) / decode_window if clock.generated > 1 and decode_window > 0 else 0.0
    return {
        "prompt_tokens": int(prompt_tokens),
        "visible_tokens": int(visible_tokens),
        "hidden_tokens": int(hidden_tokens),
        "ttft_s": round(ttft, 4),
        "tokens_per_s": round(rate, 2),
        "latency_s": round(end - clock.t0, 4),
        "thinking_s": round(thinking_s, 3),
        "cost": round(prices.cost(prompt_tokens, visible_tokens, hidden_tokens), 6),
    }


STAT_KEYS = ("prompt_tokens", "visible_tokens", "hidden_tokens", "ttft_s", "tokens_per_s", "latency_s", "cost")


def add_totals(rows: list[dict]) -> dict:
    """Conversation totals over the stats of its turns."""
    tot = {"turns": 0, "prompt_tokens": 0, "visible_tokens": 0, "hidden_tokens": 0, "latency_s": 0.0, "cost": 0.0}
    for r in rows:
        if not r:
            continue
        tot["turns"] += 1
        for k in ("prompt_tokens", "visible_tokens", "hidden_tokens"):
            tot[k] += int(r.get(k, 0))
        tot["latency_s"] = round(tot["latency_s"] + float(r.get("latency_s", 0.0)), 4)
        tot["cost"] = round(tot["cost"] + float(r.get("cost", 0.0)), 6)
    return tot
