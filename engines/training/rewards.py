"""Reward functions for RL with verifiable rewards (GRPO), combinable with weights.

Each reward has trl's reward-function signature, `fn(prompts, completions, **columns) -> list`,
where `columns` are the dataset's other fields (`answer`, `tests`) repeated per completion.
A reward returns None for a completion it cannot judge (no answer in that row); trl then
ignores it for that function. `build_rewards(specs)` turns the job config's list of
`{"name": ..., "weight": ..., **options}` into functions, weights and names.

    funcs, weights, names = build_rewards([{"name": "exact_match"}, {"name": "length_penalty", "weight": 0.2}])

Rewards:
- exact_match: the completion's final answer equals the row's `answer` (numbers normalised:
  "1,000" == "1000.0" == "1e3"; "1/2" == "0.5").
- code_tests: the completion's Python code passes the row's `tests` in a subprocess with
  CPU, memory and wall-clock limits.
- format: thinking first (`<think>...</think>`), then a non-empty answer.
- reward_model: a trained reward model (a PEFT adapter on a sequence-classification head).
- length_penalty: 0 up to `target` characters, then falling linearly to -1 at 2 x target.
- length_bonus: pays for length. Deliberately hackable; it exists to demonstrate the monitors.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
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


THINK_RE = re.compile(r"<think>(.*?)</think>", re.S)
_ANSWER_MARKERS = [
    re.compile(r"<answer>(.*?)</answer>", re.S | re.I),
    re.compile(r"\\boxed\{([^{}]*)\}"),
    re.compile(r"(?:final answer|answer)\s*[:=]\s*(.+)", re.I),
]
_NUMBER_RE = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?")


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


# ---- the rewards ----------------------------------------------------------------------------


def exact_match(prompts, completions, answer=None, **_) -> list[float | None]:
    """1.0 when the final answer equals the row's `answer`, else 0.0 (None: row has no answer)."""
    answers = answer if answer is not None else [None] * len(completions)
    out: list[float | None] = []
    for c, a in zip(completions, answers):
        if a is None or (isinstance(a, str) and not a.strip()):
            out.append(None)
        else:
            out.append(1.0 if answers_match(extract_answer(completion_text(c)), a) else 0.0)
    return out


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
    """Run `code` then `tests` (asserts) in a fresh isolated interpreter; True when it exits 0."""
    with tempfile.TemporaryDirectory(prefix="studio-code-") as tmp:
        path = os.path.join(tmp, "main.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(code + "\n\n" + tests + "\n")

        def limit() -> None:  # runs in the child before exec
            import resource

            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
            mem = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
            os.setsid()

        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-S", path],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=limits.timeout_s,
                preexec_fn=limit,
                env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0


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


_FORMAT_RE = re.compile(r"^\s*<think>\s*\S.*?</think>\s*\S", re.S)


def format_reward(prompts, completions, **_) -> list[float]:
    """1.0 when the completion thinks first (<think>...</think>) and then answers."""
    return [1.0 if _FORMAT_RE.match(completion_text(c)) else 0.0 for c in completions]


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


class RewardModelScorer:
    """Scores prompt + completion texts with a trained reward model (loaded once, kept on CPU/GPU).

    `model_dir` is the base model directory, `adapter_dir` the PEFT adapter a reward job wrote.
    The text is formatted exactly as the reward job formatted its training pairs.
    """

    def __init__(self, model_dir: str, adapter_dir: str | None, *, batch_size: int = 8, max_length: int = 512):
        from engines.training.reward import load_reward_model

        self.model, self.tokenizer = load_reward_model(model_dir, adapter_dir)
        self.batch_size = batch_size
        self.max_length = max_length

    def score(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[float]:
        from engines.training.reward import pair_messages, score_texts

        texts = [pair_messages(p, c) for p, c in zip(prompts, completions)]
        return score_texts(self.model, self.tokenizer, texts, batch_size=self.batch_size, max_length=self.max_length)

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
