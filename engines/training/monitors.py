"""Reward-hacking (Goodhart) monitors for reward-model, DPO and GRPO jobs.

A reward is a proxy. When the policy learns to please the proxy instead of the user, the
reward keeps rising while the outputs get longer, more repetitive, or less agreeable to
people. These monitors watch the signs, step by step, on plain numbers and strings:

- the correlation between reward and completion length (over a sliding window of steps);
- distinct-n diversity of the completions;
- KL to the reference model (reported by the trainer);
- the share of completions that hit the maximum length;
- for runs rewarded by a reward model: agreement with held-out human ratings;
- for GRPO, the share of prompt groups whose samples all got the same reward: no reward
  hacking, but no learning either (the group-relative advantage is zero).

    mon = RewardHackingMonitor(MonitorConfig(), max_length=64)
    metrics, warnings = mon.observe(step, completions, rewards, lengths, kl=0.02)

`metrics` go into the job's progress event (charts); each warning is a dict
`{"monitor", "message", "step"}` for `ctx.emit("warning", ...)`. A monitor warns once per run.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MonitorConfig:
    enabled: bool = field(default=True, metadata={"help": "Watch for reward hacking during the run."})
    window: int = field(
        default=4,
        metadata={"help": "Steps averaged for the baseline (first steps) and the recent trend (last steps)."},
    )
    min_reward_rise: float = field(
        default=0.05, metadata={"help": "A rise of the mean reward (baseline to recent) that counts as rising."}
    )
    length_growth: float = field(
        default=1.5,
        metadata={"help": "Warn when the recent mean completion length exceeds this many times the baseline."},
    )
    max_length_share: float = field(
        default=0.5, metadata={"help": "Warn when more than this share of completions hit the maximum length."}
    )
    length_correlation: float = field(
        default=0.6,
        metadata={"help": "Warn when reward and length correlate above this while the reward rises."},
    )
    diversity_drop: float = field(
        default=0.25,
        metadata={"help": "Warn when distinct-2 falls by this fraction of its baseline while the reward rises."},
    )
    agreement_drop: float = field(
        default=0.1,
        metadata={"help": "Warn when agreement with human ratings falls by this much while the reward rises."},
    )
    no_signal_share: float = field(
        default=0.75,
        metadata={"help": "Warn when more than this share of recent prompt groups gave every sample the same reward: "
                          "their advantage is zero, so GRPO learns nothing from them."},
    )
    kl_max: float = field(default=0.0, metadata={"help": "Warn when KL exceeds this (0: no KL limit)."})
    stop_on_warning: bool = field(
        default=False, metadata={"help": "Stop the job (keeping its last checkpoint) when a monitor fires."}
    )
    sample_every: int = field(default=5, metadata={"help": "Log sample completions with their rewards every N steps."})
    samples_per_log: int = field(default=4, metadata={"help": "How many samples each log shows."})

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("monitor window must be at least 1 step")
        if self.length_growth <= 1.0:
            raise ValueError("length_growth must be above 1.0 (a ratio to the baseline length)")
        for name in ("max_length_share", "length_correlation", "diversity_drop", "no_signal_share"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        if self.sample_every < 1:
            raise ValueError("sample_every must be at least 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "MonitorConfig":
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown monitor settings: {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- measures -------------------------------------------------------------------------------


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams over whitespace tokens of all texts (1.0: no repetition)."""
    total = 0
    seen: set[tuple[str, ...]] = set()
    for t in texts:
        words = t.split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    if total == 0:
        # No n-grams at all (only very short outputs): judge by characters instead.
        chars = [t for t in texts if t]
        return len(set(chars)) / len(chars) if chars else 0.0
    return len(seen) / total


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation; 0.0 when either side is constant (no evidence either way)."""
    n = len(xs)
    if n < 3 or n != len(ys):
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return 0.0
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return sxy / math.sqrt(sxx * syy)


def _mean(xs) -> float:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return sum(xs) / len(xs) if xs else float("nan")


def zero_spread_share(rewards: Sequence[float], groups: Sequence[Any]) -> float | None:
    """Share of groups (of two or more samples) whose rewards are all equal: GRPO's advantage
    (reward minus its group's mean) is zero for every sample in them. None: no such group."""
    by: dict[Any, list[float]] = {}
    for g, r in zip(groups, rewards):
        by.setdefault(g, []).append(float(r))
    multi = [rs for rs in by.values() if len(rs) > 1]
    if not multi:
        return None
    return sum(1 for rs in multi if max(rs) - min(rs) <= 1e-9) / len(multi)


# ---- the monitor ----------------------------------------------------------------------------


@dataclass
class _Step:
    step: int
    reward: float
    length: float
    distinct2: float
    hit_max: float
    rewards: list[float]
    lengths: list[float]
    agreement: float | None
    kl: float | None
    no_signal: float | None = None


class RewardHackingMonitor:
    """Feed it each step's completions and rewards; it returns chart metrics and warnings."""

    def __init__(self, config: MonitorConfig | None = None, *, max_length: int | None = None):
        self.config = config or MonitorConfig()
        self.max_length = max_length
        self.history: list[_Step] = []
        self.fired: dict[str, dict[str, Any]] = {}
        self._recent_pairs: deque[tuple[list[float], list[float]]] = deque(maxlen=self.config.window)

    def observe(
        self,
        step: int,
        completions: Sequence[str],
        rewards: Sequence[float],
        lengths: Sequence[float] | None = None,
        *,
        kl: float | None = None,
        agreement: float | None = None,
        groups: Sequence[Any] | None = None,
    ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """`groups[i]` names the prompt group of completion i (GRPO's samples of one prompt); given,
        the share of groups whose rewards are all equal is charted and watched."""
        cfg = self.config
        rewards = [float(r) for r in rewards]
        lengths = [float(x) for x in (lengths if lengths is not None else [len(c) for c in completions])]
        hit = (
            sum(1 for x in lengths if x >= self.max_length) / len(lengths)
            if self.max_length and lengths
            else 0.0
        )
        rec = _Step(
            step=step,
            reward=_mean(rewards),
            length=_mean(lengths),
            distinct2=distinct_n(completions, 2),
            hit_max=hit,
            rewards=rewards,
            lengths=lengths,
            agreement=agreement,
            kl=kl,
            no_signal=zero_spread_share(rewards, groups) if groups is not None else None,
        )
        self.history.append(rec)
        self._recent_pairs.append((rewards, lengths))
        pooled_r = [r for rs, _ in self._recent_pairs for r in rs]
        pooled_l = [x for _, ls in self._recent_pairs for x in ls]
        corr = pearson(pooled_r, pooled_l)

        metrics: dict[str, float] = {
            "monitor/reward_length_corr": round(corr, 4),
            "monitor/distinct_1": round(distinct_n(completions, 1), 4),
            "monitor/distinct_2": round(rec.distinct2, 4),
            "monitor/max_length_share": round(hit, 4),
            "monitor/mean_length": round(rec.length, 2),
        }
        if kl is not None:
            metrics["monitor/kl"] = float(kl)
        if agreement is not None:
            metrics["monitor/human_agreement"] = float(agreement)
        if rec.no_signal is not None:
            metrics["monitor/no_signal_share"] = round(rec.no_signal, 4)
        if not cfg.enabled:
            return metrics, []
        return metrics, self._check(corr)

    # -- rules ------------------------------------------------------------------------------
    def _baseline_recent(self, attr: str) -> tuple[float, float] | None:
        w = self.config.window
        vals = [getattr(h, attr) for h in self.history if getattr(h, attr) is not None]
        if len(vals) < w + 1:
            return None
        return _mean(vals[:w]), _mean(vals[-w:])

    def reward_rising(self) -> bool:
        br = self._baseline_recent("reward")
        return br is not None and br[1] - br[0] >= self.config.min_reward_rise

    def _check(self, corr: float) -> list[dict[str, Any]]:
        cfg = self.config
        step = self.history[-1].step
        rising = self.reward_rising()
        found: list[tuple[str, str]] = []

        length = self._baseline_recent("length")
        if length and length[0] > 0 and length[1] >= cfg.length_growth * length[0]:
            found.append((
                "length",
                f"completions grew from {length[0]:.0f} to {length[1]:.0f} on average "
                f"({length[1] / length[0]:.1f}x, threshold {cfg.length_growth:.1f}x)"
                + (" while the reward rose" if rising else ""),
            ))
        if self.max_length:
            share = _mean([h.hit_max for h in self.history[-cfg.window :]])
            if share > cfg.max_length_share:
                found.append((
                    "max_length",
                    f"{share:.0%} of recent completions hit the maximum length ({self.max_length} tokens)",
                ))
        if rising and corr >= cfg.length_correlation:
            found.append((
                "reward_length_correlation",
                f"the reward rises and correlates with completion length (r = {corr:.2f}): "
                "the reward may be paying for length, not quality",
            ))
        div = self._baseline_recent("distinct2")
        if rising and div and div[0] > 0 and div[1] < (1 - cfg.diversity_drop) * div[0]:
            found.append((
                "diversity",
                f"the reward rises while diversity falls (distinct-2 {div[0]:.2f} -> {div[1]:.2f}): "
                "completions are becoming repetitive",
            ))
        agr = self._baseline_recent("agreement")
        if rising and agr and agr[1] < agr[0] - cfg.agreement_drop:
            found.append((
                "human_agreement",
                f"the reward rises while agreement with held-out human ratings falls ({agr[0]:.0%} -> {agr[1]:.0%})",
            ))
        flat = [h.no_signal for h in self.history[-cfg.window:] if h.no_signal is not None]
        if len(flat) == cfg.window and _mean(flat) > cfg.no_signal_share:
            found.append((
                "no_signal",
                f"{_mean(flat):.0%} of the last {cfg.window} steps' prompt groups gave every sample the same reward: "
                "their advantage is zero and GRPO learns nothing from them. Use prompts the model solves "
                "sometimes (not always or never), or raise temperature or num_generations",
            ))
        kl = self.history[-1].kl
        if cfg.kl_max > 0 and kl is not None and kl > cfg.kl_max:
            found.append(("kl", f"KL to the reference model is {kl:.3f}, above the limit {cfg.kl_max:.3f}"))

        warnings = []
        for monitor, message in found:
            if monitor in self.fired:
                continue
            w = {"monitor": monitor, "message": message, "step": step}
            self.fired[monitor] = w
            warnings.append(w)
        return warnings


def pick_samples(
    prompts: Sequence[Any],
    completions: Sequence[str],
    rewards: Sequence[float],
    k: int,
    **columns: Sequence[Any],
) -> list[dict[str, Any]]:
    """k samples spread over the reward range (best, worst and between), as plain dicts."""
    order = sorted(range(len(completions)), key=lambda i: rewards[i], reverse=True)
    if len(order) > k > 1:
        idx = [order[round(j * (len(order) - 1) / (k - 1))] for j in range(k)]
    else:
        idx = order[:k]
    out = []
    for i in dict.fromkeys(idx):
        row = {"prompt": _plain(prompts[i]), "completion": completions[i], "reward": round(float(rewards[i]), 4)}
        for name, col in columns.items():
            row[name] = col[i] if not isinstance(col[i], float) else round(col[i], 4)
        out.append(row)
    return out


def _plain(p: Any) -> str:
    if isinstance(p, list):
        return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in p if isinstance(m, dict))
    return str(p)
