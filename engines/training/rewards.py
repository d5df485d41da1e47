"""Reward functions for RL with verifiable rewards (GRPO), combinable with weights.

Each reward has trl's reward-function signature, `fn(prompts, completions, **columns) -> list`,
where `columns` are the dataset's other fields (`answer`, `tests`) repeated per completion.
A reward returns None for a completion it cannot judge (no answer in that row); trl then
ignores it for that function. `build_rewards(specs)` turns the job config's list of
`{"name": ..., "weight": ..., **options}` into functions, weights and names.

    funcs, weights, names = build_rewards([{"name": "exact_match"}, {"name": "length_penalty", "weight": 0.2}])

Rewards:
- exact_match: the completion's final answer (a marked answer, else the last number outside
  the thinking) equals the row's `answer` (numbers normalised: "1,000" == "1000.0" == "1e3";
  "1/2" == "0.5").
- code_tests: the completion's Python code, then the row's `tests`, run in the python tool's
  sandbox (engines/tools/sandbox.py: no network, no files, no processes). A pass is the run's
  nonce, written to a pipe by the harness after every assert ran; the exit status never counts.
- format: thinking first (`<think>...</think>` with real content), then a non-empty answer.
- reward_model: a trained reward model (a PEFT adapter on a sequence-classification head).
- length_penalty: 0 up to `target` characters, then falling linearly to -1 at 2 x target.
- length_bonus: pays for length. Deliberately hackable; it exists to demonstrate the monitors.

Ways to game them, and what each reward does about it (tests/engines/test_reward_red_team.py
tries every one; "0" means the attempt scores 0, "penalised" means below an honest reply):

| way to game | exact_match | format | code_tests | length_penalty | reward_model |
|---|---|---|---|---|---|
| early exit: `sys.exit(0)` / `os._exit(0)` / `raise SystemExit` before the tests | - | - | 0 (no nonce) | - | - |
| early exit: stop inside the thinking, no answer | 0 | 0 | 0 | - | penalised |
| forge the pass: print "OK", write to every fd, read the nonce, patch `exec`, frames/gc | - | - | 0 | - | - |
| always-equal `__eq__` object, shadowing builtins the tests use | - | - | 0 | - | - |
| print many numbers (the answer among them) | 0 | - | 0 | penalised when long | penalised |
| hedge: "18, 19 or 20" | 0 | - | - | - | - |
| empty thinking `<think></think>` or whitespace | (no effect: fast answers) | 0 | - | - | - |
| copied thinking: the question, or the answer, or one line repeated | - | 0 | - | - | penalised |
| repeat the question | 0 | 0 | 0 | - | penalised |
| overlong answer, padding | - | - | - | penalised (to -1) | penalised (beyond what it reads) |
| tags without content: `<answer></answer>`, `\\boxed{}`, a bare code fence | 0 | 0 | 0 | 0 (never pays) | penalised |

length_penalty never pays (its best is 0), so gaming it can only reach 0; an empty reply
that does so scores 0 on every paying reward. `reward_model` keeps the model's score for
honest replies and puts a flagged reply (see `gaming_flags`) below every honest reply of the
same batch; GRPO compares completions of one prompt, so that is what a penalty means there.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

RewardFn = Callable[..., list]

# ---- reading a completion -------------------------------------------------------------------


def completion_text(c: Any) -> str:
    """A completion as text: trl passes strings, or message lists for conversational data."""
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(m.get("content", "") for m in c if isinstance(m, dict))
    if isinstance(c, dict):
        return str(c.get("content", ""))
    return str(c)


def prompt_text(p: Any) -> str:
    """The question of a prompt: the text, or the last user message of a conversation."""
    if isinstance(p, list):
        users = [m.get("content", "") for m in p if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1]) if users else completion_text(p)
    return completion_text(p)


THINK_RE = re.compile(r"<think>(.*?)</think>", re.S)
_ANSWER_MARKERS = [
    re.compile(r"<answer>(.*?)</answer>", re.S | re.I),
    re.compile(r"\\boxed\{([^{}]*)\}"),
    re.compile(r"(?:final answer|answer)\s*[:=]\s*(.+)", re.I),
]
_NUMBER_RE = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?")
_TAG_RE = re.compile(r"</?\s*[A-Za-z_][\w-]*\s*/?>|```\w*")
# arithmetic like "3 * 8 - 5" or "24 - 5 = 19": working, not candidate answers
_ARITHMETIC_RE = re.compile(r"\d[\d,.]*(?:\s*[-+*/×÷^x]\s*\(?\s*\d[\d,.]*\)?)+(?:\s*=\s*[-+]?\d[\d,.]*)?")
MAX_VISIBLE_NUMBERS = 12  # "The answer is 19." has one; a number dump has dozens


def extract_answer(text: str) -> str:
    """The final answer of a completion: a marked answer, else the last number, else the text."""
    visible = THINK_RE.sub("", text)
    for rx in _ANSWER_MARKERS:
        found = rx.findall(visible)
        if found:
            return found[-1].strip().splitlines()[0].strip() if found[-1].strip() else ""
    numbers = _NUMBER_RE.findall(visible)
    if numbers:
        return numbers[-1]
    return visible.strip()


def normalize_number(text: str) -> Fraction | None:
    """'1,000' / '1000.0' / '$1e3' / '1/2' as an exact Fraction; None when not a number."""
    t = text.strip().rstrip(".").replace(",", "").replace("$", "").replace("%", "").strip()
    if not t:
        return None
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            return Fraction(Fraction(num.strip()), Fraction(den.strip()))
        return Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None


def answers_match(predicted: str, expected: Any) -> bool:
    exp = str(expected).strip()
    a, b = normalize_number(predicted), normalize_number(exp)
    if a is not None and b is not None:
        return a == b
    if b is not None:  # a numeric answer: look for the number inside a worded answer
        m = _NUMBER_RE.findall(predicted)
        return bool(m) and normalize_number(m[-1]) == b
    return predicted.strip().rstrip(".").casefold() == exp.rstrip(".").casefold()


# ---- signs of gaming ------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def has_content(text: str) -> bool:
    """Something besides tags, code fences, whitespace and punctuation."""
    return re.search(r"\w", _TAG_RE.sub("", text)) is not None


def unfinished_thinking(text: str) -> bool:
    """A <think> that never closes: the reply stopped before it answered."""
    return text.rfind("<think>") > text.rfind("</think>")


def repeats_prompt(prompt: Any, text: str) -> bool:
    """The question (20+ characters of it, whitespace and case aside) copied into the text."""
    q = _norm(prompt_text(prompt)) if prompt is not None else ""
    return len(q) >= 20 and q in _norm(text)


def repetitive(text: str) -> bool:
    """The same line again and again, or text that compresses like a loop."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 4 and len(set(lines)) * 2 <= len(lines):
        return True
    raw = text.strip().encode()
    return len(raw) >= 200 and len(zlib.compress(raw)) < 0.2 * len(raw)


def hedged(visible: str) -> bool:
    """More than one candidate answer ("18, 19 or 20"), or a dump of numbers."""
    if len(_NUMBER_RE.findall(visible)) > MAX_VISIBLE_NUMBERS:
        return True
    free = {normalize_number(n) for n in _NUMBER_RE.findall(_ARITHMETIC_RE.sub(" ", visible))}
    return len(free - {None}) > 1


def gaming_flags(prompt: Any, completion: Any) -> list[str]:
    """Every sign of gaming in one completion (names as in the module's table)."""
    text = completion_text(completion)
    visible = THINK_RE.sub("", text)
    flags = []
    if not has_content(visible) or not has_content(text):
        flags.append("tags_without_content")
    if unfinished_thinking(text):
        flags.append("early_exit")
    if repeats_prompt(prompt, text):
        flags.append("repeats_question")
    if len(_NUMBER_RE.findall(visible)) > MAX_VISIBLE_NUMBERS:
        flags.append("many_numbers")
    thoughts = THINK_RE.findall(text)
    if thoughts and any(has_content(t) and (repeats_prompt(prompt, t) or repetitive(t)
                                            or _norm(t) == _norm(visible)) for t in thoughts):
        flags.append("copied_thinking")
    if repetitive(visible):
        flags.append("repetitive")
    return flags


# ---- the rewards ----------------------------------------------------------------------------


def exact_match(prompts, completions, answer=None, **_) -> list[float | None]:
    """1.0 when the final answer equals the row's `answer`, else 0.0 (None: row has no answer).

    0.0 as well for a reply that stops inside its thinking, hedges between numbers or dumps
    them, or repeats the question (see the module's table). An empty think block before the
    answer is fine: that is how a fast answer looks."""
    answers = answer if answer is not None else [None] * len(completions)
    prompts = prompts if prompts is not None else [None] * len(completions)
    out: list[float | None] = []
    for p, c, a in zip(prompts, completions, answers):
        if a is None or (isinstance(a, str) and not a.strip()):
            out.append(None)
            continue
        text = completion_text(c)
        visible = THINK_RE.sub("", text)
        if unfinished_thinking(text) or repeats_prompt(p, text) or hedged(_marked(visible)):
            out.append(0.0)
        else:
            out.append(1.0 if answers_match(extract_answer(text), a) else 0.0)
    return out


def _marked(visible: str) -> str:
    """Where hedging is judged: the marked answer if there is one, else the whole visible reply."""
    for rx in _ANSWER_MARKERS:
        found = rx.findall(visible)
        if found:
            return found[-1]
    return visible


_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)


def extract_code(text: str) -> str:
    blocks = _CODE_BLOCK.findall(THINK_RE.sub("", text))
    return blocks[-1] if blocks else THINK_RE.sub("", text)


@dataclass
class CodeLimits:
    timeout_s: float = 5.0  # wall clock per completion: a generated `while True` must not stall training
    cpu_s: int = 5
    memory_mb: int = 512


def run_python_tests(code: str, tests: str, limits: CodeLimits = CodeLimits()) -> bool:
    """Run `code` then `tests` (asserts) in the python tool's sandbox; True only when the
    harness proved, with this run's nonce, that every assert ran. Raises SandboxRefused where
    the sandbox would be reduced to its audit hook: model code is not run like that."""
    from engines.tools.sandbox import SandboxLimits, SandboxRefused, run_tests

    if not code.strip():
        return False
    result = run_tests(code, tests, SandboxLimits(wall_s=limits.timeout_s, cpu_s=limits.cpu_s,
                                                  memory_mb=limits.memory_mb))
    if result["layers"].get("refused"):
        raise SandboxRefused("code_tests cannot run: " + result["error"])
    return result["passed"]


def make_code_tests(limits: CodeLimits) -> RewardFn:
    def code_tests(prompts, completions, tests=None, **_) -> list[float | None]:
        rows = tests if tests is not None else [None] * len(completions)
        out: list[float | None] = []
        for c, t in zip(completions, rows):
            if not t:
                out.append(None)
                continue
            t = "\n".join(t) if isinstance(t, list) else str(t)
            out.append(1.0 if run_python_tests(extract_code(completion_text(c)), t, limits) else 0.0)
        return out

    return code_tests


_FORMAT_RE = re.compile(r"^\s*<think>(.*?)</think>(.*)$", re.S)


def format_reward(prompts, completions, **_) -> list[float]:
    """1.0 when the completion thinks first (one <think>...</think> with real content: not
    empty, not the question, not the answer again, not one line repeated) and then answers
    with something besides tags; else 0.0."""
    prompts = prompts if prompts is not None else [None] * len(completions)
    out = []
    for p, c in zip(prompts, completions):
        m = _FORMAT_RE.match(completion_text(c))
        if m is None:
            out.append(0.0)
            continue
        thought, answer = m.group(1), m.group(2)
        ok = (has_content(thought) and has_content(answer) and "<think>" not in thought + answer
              and "</think>" not in answer and not repeats_prompt(p, thought + answer) and not repetitive(thought)
              and _norm(thought) != _norm(answer))
        out.append(1.0 if ok else 0.0)
    return out


def make_length_penalty(target_chars: int) -> RewardFn:
    def length_penalty(prompts, completions, **_) -> list[float]:
        out = []
        for c in completions:
            n = len(completion_text(c))
            out.append(-min(1.0, max(0, n - target_chars) / max(1, target_chars)))
        return out

    return length_penalty


def make_length_bonus(target_chars: int) -> RewardFn:
    def length_bonus(prompts, completions, **_) -> list[float]:
        return [min(1.0, len(completion_text(c)) / max(1, target_chars)) for c in completions]

    return length_bonus


def penalise_gaming(prompts: Sequence[Any], completions: Sequence[Any], scores: Sequence[float],
                    overlong: Sequence[bool] | None = None) -> list[float]:
    """A learned score, with each flagged completion put 1.0 below the lowest honest score of
    the batch (or its own score, if lower): GRPO compares within a group, so gaming never wins."""
    flagged = [bool(gaming_flags(p, c)) or bool(overlong and overlong[i])
               for i, (p, c) in enumerate(zip(prompts, completions))]
    honest = [s for s, f in zip(scores, flagged) if not f]
    floor = min(honest if honest else scores) - 1.0
    return [min(s, floor) if f else float(s) for s, f in zip(scores, flagged)]


class RewardModelScorer:
    """Scores prompt + completion texts with a trained reward model (loaded once, kept on CPU/GPU).

    `model_dir` is the base model directory, `adapter_dir` the PEFT adapter a reward job wrote.
    The text is formatted exactly as the reward job formatted its training pairs. A reply the
    model would only partly read (longer than `max_length` tokens) or that shows a sign of
    gaming is penalised (`penalise_gaming`).
    """

    def __init__(self, model_dir: str, adapter_dir: str | None, *, batch_size: int = 8, max_length: int = 512):
        from engines.training.reward import load_reward_model

        self.model, self.tokenizer = load_reward_model(model_dir, adapter_dir)
        self.batch_size = batch_size
        self.max_length = max_length

    def model_scores(self, conversations: list[list[dict]]) -> list[float]:
        from engines.training.reward import score_texts

        return score_texts(self.model, self.tokenizer, conversations, batch_size=self.batch_size,
                           max_length=self.max_length)

    def token_count(self, conversation: list[dict]) -> int:
        return len(self.tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True)["input_ids"])

    def score(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[float]:
        from engines.training.reward import pair_messages

        conversations = [pair_messages(p, c) for p, c in zip(prompts, completions)]
        # score_texts keeps the last max_length tokens: a longer pair is judged on a part of itself
        overlong = [self.token_count(c) > self.max_length for c in conversations]
        return penalise_gaming(prompts, completions, self.model_scores(conversations), overlong)

    def __call__(self, prompts, completions, **_) -> list[float]:
        return self.score(prompts, completions)


# ---- combining ------------------------------------------------------------------------------


@dataclass
class RewardSpec:
    name: str
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


REWARD_NAMES = ("exact_match", "code_tests", "format", "reward_model", "length_penalty", "length_bonus")
# Rewards that need a field of every prompt row (checked before a job starts).
NEEDS_COLUMN = {"exact_match": "answer", "code_tests": "tests"}
# Rewards whose 1.0 means "solved" (the fraction-solved chart).
VERIFIABLE = ("exact_match", "code_tests")


def parse_specs(specs: Sequence[dict | str | RewardSpec]) -> list[RewardSpec]:
    out = []
    for s in specs:
        if isinstance(s, RewardSpec):
            spec = s
        elif isinstance(s, str):
            spec = RewardSpec(s)
        elif isinstance(s, dict) and "name" in s:
            opts = {k: v for k, v in s.items() if k not in ("name", "weight")}
            spec = RewardSpec(str(s["name"]), float(s.get("weight", 1.0)), opts)
        else:
            raise ValueError(f"a reward must be a name or {{'name': ..., 'weight': ...}}, got {s!r}")
        if spec.name not in REWARD_NAMES:
            raise ValueError(f"unknown reward {spec.name!r}; choose from {', '.join(REWARD_NAMES)}")
        if spec.name == "reward_model" and not (spec.options.get("adapter_dir") or spec.options.get("model")):
            # "model" is a registered reward model's name, which the studio resolves to adapter_dir
            raise ValueError("the reward_model reward needs 'model' (a reward model's name) or 'adapter_dir'")
        out.append(spec)
    if not out:
        raise ValueError("at least one reward function is needed")
    return out


def build_rewards(
    specs: Sequence[dict | str | RewardSpec], *, base_model_dir: str | None = None
) -> tuple[list[RewardFn], list[float], list[str]]:
    """Reward functions (trl signature), their weights and names, from the job config's specs."""
    funcs: list[RewardFn] = []
    weights: list[float] = []
    names: list[str] = []
    for spec in parse_specs(specs):
        o = spec.options
        if spec.name == "exact_match":
            fn: RewardFn = exact_match
        elif spec.name == "code_tests":
            fn = make_code_tests(CodeLimits(**{k: o[k] for k in ("timeout_s", "cpu_s", "memory_mb") if k in o}))
        elif spec.name == "format":
            fn = format_reward
        elif spec.name == "length_penalty":
            fn = make_length_penalty(int(o.get("target_chars", 200)))
        elif spec.name == "length_bonus":
            fn = make_length_bonus(int(o.get("target_chars", 200)))
        else:
            model_dir = o.get("model_dir") or base_model_dir
            if not model_dir:
                raise ValueError("the reward_model reward needs 'model_dir' (the reward model's base)")
            if not o.get("adapter_dir"):
                raise ValueError(f"the reward_model reward names {o.get('model')!r}, but no adapter_dir was resolved for it")
            fn = RewardModelScorer(model_dir, o["adapter_dir"])
        funcs.append(_named(fn, spec.name))
        weights.append(spec.weight)
        names.append(spec.name)
    return funcs, weights, names


def _named(fn: RewardFn, name: str) -> RewardFn:
    """trl names a reward by its __name__ (the chart label): make it the spec's name."""

    def reward(*args, **kwargs):
        return fn(*args, **kwargs)

    reward.__name__ = name
    reward.__qualname__ = name
    return reward
