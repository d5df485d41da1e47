"""One chat turn, fast (System 1) or reasoning (System 2), over any backend.

Fast: render the conversation with the model's chat template and stream the answer.

Reasoning: the answer is preceded by hidden thinking.
1. Think. The prompt ends with an opened `<think>` block. A model that does not think natively
   also gets a scaffold: an instruction to work in a hidden scratchpad first. Generation stops
   at the closing tag (or the end of the turn) or at the thinking budget.
2. Budget forcing (s1: "Simple test-time scaling", Muennighoff et al. 2025). When the budget is
   reached, the app closes the block itself and makes the model answer. When the model closes
   the block before the optional minimum, the close is replaced with "Wait," and it goes on.
3. Answer. The prompt is the first prompt plus the thinking plus `</think>`; the model host
   reuses the KV cache of the common prefix, so this costs only the few new tokens.

Everything streams through `on_event({"type": "thinking"|"answer"|"status", "text": ...})`,
and the turn ends with a `TurnResult` carrying the accounting (engines.inference.accounting).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engines.inference.accounting import Prices, TurnClock, turn_stats
from engines.inference.backend import Backend, CompletionParams, Done, Piece, Sampling
from engines.inference.thinking import CLOSE_TAG, OPEN_TAG, THINK_TAGS, ThinkingParser

SCAFFOLD = (
    "Before answering, think step by step in a hidden scratchpad: restate what is asked, work it out, "
    "and check the result. Then give the final answer on its own."
)
FAST_THINK_PREFILL = f"{OPEN_TAG}\n\n{CLOSE_TAG}\n\n"  # an empty block: a hybrid thinker answers at once
WAIT = "\nWait,"  # s1's word for "keep thinking"
MAX_WAITS = 8  # a model that keeps closing early cannot loop forever


@dataclass(frozen=True)
class ThinkingBudget:
    """How much hidden thinking a reasoning turn may (and must) spend, in tokens."""

    max_tokens: int = field(default=512, metadata={"help": "budget forcing closes the thinking here"})
    min_tokens: int = field(default=0, metadata={"help": "an early close becomes 'Wait,' until this many"})

    def __post_init__(self):
        if self.max_tokens < 1:
            raise ValueError(f"the thinking budget must be at least 1 token, got {self.max_tokens}")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ValueError(f"the minimum thinking ({self.min_tokens}) must be between 0 and the budget ({self.max_tokens})")


@dataclass
class TurnRequest:
    messages: list[dict]  # [{"role": "system"|"user"|"assistant", "content": str}], last one the user's
    template: str  # Jinja chat template (inference form, `{{ bos_token }}` first)
    stop: tuple[str, ...] = ()  # strings that end an assistant turn in this template
    mode: str = "fast"  # fast | reasoning
    max_tokens: int = 256  # visible answer tokens
    budget: ThinkingBudget = ThinkingBudget()
    sampling: Sampling = Sampling()
    prices: Prices = Prices()
    native_thinking: bool = False  # the model was trained to think in tags: no scaffold needed

    def __post_init__(self):
        if self.mode not in ("fast", "reasoning"):
            raise ValueError(f"mode must be fast or reasoning, got {self.mode!r}")
        if not self.messages or self.messages[-1].get("role") != "user":
            raise ValueError("the last message of a turn must be the user's")


@dataclass
class TurnResult:
    answer: str
    thinking: str
    mode: str
    stats: dict
    finish_reason: str  # stop | eos | length | cancelled
    budget_forced: bool = False
    waits: int = 0
    cached_tokens: int = 0
    prompt: str = ""

    def to_dict(self) -> dict:
        return {
            "answer": self.answer,
            "thinking": self.thinking,
            "mode": self.mode,
            "stats": self.stats,
            "finish_reason": self.finish_reason,
            "budget_forced": self.budget_forced,
            "waits": self.waits,
        }


def render_prompt(req: TurnRequest, messages: list[dict] | None = None) -> str:
    """The rendered prompt, without BOS text: the backend's tokenizer adds BOS (never doubled)."""
    from engines.templates import render

    return render(req.template, messages or req.messages, bos_token="", add_generation_prompt=True)


def _with_scaffold(messages: list[dict]) -> list[dict]:
    out = [dict(m) for m in messages]
    out[-1]["content"] = out[-1]["content"].rstrip() + "\n\n" + SCAFFOLD
    return out


def run_turn(
    backend: Backend,
    req: TurnRequest,
    on_event: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TurnResult:
    emit = on_event or (lambda _e: None)
    clock = TurnClock(t0=time.perf_counter())
    hidden = visible = 0
    thinking: list[str] = []
    answer: list[str] = []
    prompt_tokens = cached = 0
    waits = 0
    budget_forced = False
    thinking_s = 0.0
    reason = "stop"

    def stream(prompt: str, params: CompletionParams, parser: ThinkingParser | None, phase: str):
        """Stream one completion; returns its Done. `phase` says where unparsed text goes."""
        nonlocal hidden, visible, prompt_tokens, cached
        done = None
        for ev in backend.complete(prompt, params, should_stop):
            if isinstance(ev, Done):
                done = ev
                break
            now = time.perf_counter()
            parts = parser.feed(ev.text) if parser else [(phase, ev.text)]
            kind = parts[-1][0] if parts else ("thinking" if (parser and parser.inside) or phase == "thinking" else "answer")
            if kind == "thinking":
                hidden += ev.tokens
            else:
                visible += ev.tokens
            clock.token(now, ev.tokens, kind == "answer" and any(k == "answer" and t.strip() for k, t in parts))
            for k, t in parts:
                (thinking if k == "thinking" else answer).append(t)
                emit({"type": k, "text": t})
        if parser:
            for k, t in parser.finish():
                (thinking if k == "thinking" else answer).append(t)
                emit({"type": k, "text": t})
        if done is not None and not prompt_tokens:
            prompt_tokens = done.prompt_tokens or backend.count_tokens(prompt)
            cached = done.cached_tokens
        return done

    if req.mode == "fast":
        prompt = render_prompt(req)
        if req.native_thinking:  # an empty block tells a native thinker to answer at once (Qwen3's switch)
            prompt += FAST_THINK_PREFILL
        done = stream(prompt, CompletionParams(req.max_tokens, req.stop, req.sampling), ThinkingParser(), "answer")
        reason = done.finish_reason if done else "cancelled"
    else:
        base = render_prompt(req, req.messages if req.native_thinking else _with_scaffold(req.messages))
        think_prompt = base + OPEN_TAG + "\n"
        close_tags = tuple(dict.fromkeys(c for _o, c in THINK_TAGS))
        emit({"type": "status", "text": "thinking"})
        while True:
            left = req.budget.max_tokens - hidden
            done = stream(
                think_prompt + "".join(thinking),
                CompletionParams(left, close_tags + tuple(req.stop), req.sampling),
                None,
                "thinking",
            )
            if done is None or done.finish_reason == "cancelled":
                reason = "cancelled"
                break
            if done.finish_reason == "length" or hidden >= req.budget.max_tokens:
                budget_forced = True
                emit({"type": "status", "text": "thinking budget reached: answering"})
                break
            if hidden < req.budget.min_tokens and waits < MAX_WAITS:
                waits += 1
                thinking.append(WAIT)
                emit({"type": "thinking", "text": WAIT})
                continue
            break
        thinking_s = time.perf_counter() - clock.t0
        if reason != "cancelled":
            emit({"type": "status", "text": "answering"})
            answer_prompt = think_prompt + "".join(thinking).rstrip() + f"\n{CLOSE_TAG}\n\n"
            done = stream(answer_prompt, CompletionParams(req.max_tokens, req.stop, req.sampling), ThinkingParser(), "answer")
            reason = done.finish_reason if done else "cancelled"
        prompt = think_prompt

    end = time.perf_counter()
    stats = turn_stats(
        clock, end, prompt_tokens=prompt_tokens, visible_tokens=visible, hidden_tokens=hidden,
        prices=req.prices, thinking_s=thinking_s,
    )
    return TurnResult(
        answer="".join(answer).strip(),
        thinking="".join(thinking).strip(),
        mode=req.mode,
        stats=stats,
        finish_reason=reason,
        budget_forced=budget_forced,
        waits=waits,
        cached_tokens=cached,
        prompt=prompt,
    )
