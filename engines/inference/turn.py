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
4. Exact arithmetic (optional, `think_calculator`). Thinking also stops at "=". When the line
   before it ends in plain arithmetic ("eggs laid: 7 * 4"), the calculator writes the result
   (" = 28") into the thinking and the model goes on from there: a small model plans the steps,
   and the digits are exact (Toolformer's calculator, inside System 2). The results it wrote
   are counted apart (`calculator_results`), never as generated tokens.

Everything streams through `on_event({"type": "thinking"|"answer"|"status", "text": ...})`,
and the turn ends with a `TurnResult` carrying the accounting (engines.inference.accounting).
"""

from __future__ import annotations

import re
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
CALC_STOP = "="
# the arithmetic at the end of a thinking line, just before "=": "eggs laid: 7 * 4 " -> "7 * 4"
_ARITH_TAIL = re.compile(r"(?<![\w.])(\(?-?\d+(?:\.\d+)?(?:\s*[-+*/×x]\s*\(?-?\d+(?:\.\d+)?\)?)+)\s*$")
MAX_CALC = 32  # stops at "=" per turn: a model that loops on "=" cannot loop forever
CALC_DECIMALS = 4  # "82 / 3 = 27.3333", not the calculator's 50 digits, which fill the thinking budget


def calculator_result(thinking: str) -> str | None:
    """The text to append after a stop at "=": " = 28" when the thinking ends in arithmetic
    ("... 7 * 4 "), None when it does not (the "=" was something else, e.g. code)."""
    from engines.tools.calculator import CalculatorError, calculate

    line = thinking.rsplit("\n", 1)[-1]
    m = _ARITH_TAIL.search(line)
    if not m or not re.search(r"\d\s*[-+*/×x]\s*\(?-?\d", m.group(1)):
        return None
    try:
        value = calculate(m.group(1).replace("×", "*").replace("x", "*"))["result"]
    except CalculatorError:
        return None
    whole, _dot, frac = value.partition(".")
    if len(frac) > CALC_DECIMALS and whole.lstrip("-").isdigit() and frac.isdigit():
        from decimal import ROUND_HALF_EVEN, Decimal

        d = Decimal(value)  # 4 decimals, or 4 significant digits below 1 (1 / 70000 = 0.00001429)
        value = str(d.quantize(Decimal(1).scaleb(min(-CALC_DECIMALS, d.adjusted() - CALC_DECIMALS + 1)), rounding=ROUND_HALF_EVEN))
        value = value.rstrip("0").rstrip(".")
    return ("" if line.endswith(" ") else " ") + "= " + value


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
    think_calculator: bool = False  # reasoning: the calculator writes each "a op b =" result (see 4. above)

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
    calc_results = calc_stops = 0

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
        calc_stop = (CALC_STOP,) if req.think_calculator else ()
        emit({"type": "status", "text": "thinking"})
        while True:
            left = req.budget.max_tokens - hidden
            done = stream(
                think_prompt + "".join(thinking),
                CompletionParams(left, close_tags + tuple(req.stop) + calc_stop, req.sampling),
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
            # a stop at "=" (a remote server does not say which stop matched: then "=" is
            # assumed when the line ends in arithmetic, which a close tag never follows)
            if calc_stop and done.finish_reason == "stop" and done.stop_string in (CALC_STOP, None):
                calc_stops += 1
                if calc_stops >= MAX_CALC:  # a model that loops on "=" thinks on without stopping there
                    calc_stop = ()
                written = calculator_result("".join(thinking))
                if written is not None:
                    calc_results += 1
                elif done.stop_string == CALC_STOP:
                    written = CALC_STOP  # not arithmetic: give the "=" back and go on
                if written is not None:
                    thinking.append(written)
                    emit({"type": "thinking", "text": written})
                    continue
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
    if req.think_calculator and req.mode == "reasoning":
        stats["calculator_results"] = calc_results
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
