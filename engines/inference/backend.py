"""The one small interface the chat speaks, whichever engine produces the tokens.

A backend completes a *rendered prompt* (the chat template is applied by the caller, so a
base model, an adapter with its own template and a remote server all behave the same):

    for ev in backend.complete(prompt, params, should_stop=stop.is_set):
        if isinstance(ev, Piece): show(ev.text)      # ev.tokens: tokens this text took
        else: done = ev                               # Done: finish_reason, token counts

Implementations: `host.LocalBackend` (llama.cpp in a model-host child process) and
`remote.OpenAIBackend` (any OpenAI-compatible server: llama-server, vLLM).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Protocol, Union


class BackendError(Exception):
    """A failure the user can act on: what happened, and a hint saying what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Sampling:
    temperature: float = field(default=0.7, metadata={"help": "0 is greedy"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass"})
    top_k: int = field(default=40, metadata={"help": "0 disables"})
    min_p: float = field(default=0.05, metadata={"help": "llama.cpp's default"})
    repeat_penalty: float = field(default=1.1, metadata={"help": "a small model loops without it"})
    seed: int = field(default=-1, metadata={"help": "-1 picks a random seed"})

    def __post_init__(self):
        if not 0 <= self.temperature <= 5:
            raise ValueError(f"temperature must be in [0, 5], got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @classmethod
    def from_dict(cls, d: dict | None) -> "Sampling":
        d = d or {}
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CompletionParams:
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    sampling: Sampling = Sampling()


@dataclass(frozen=True)
class Piece:
    text: str
    tokens: int  # generated tokens this text accounts for (0 while text is held back)


@dataclass(frozen=True)
class Done:
    finish_reason: str  # stop | eos | length | cancelled
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens reused from the previous request (prefix cache)
    stop_string: str | None = None
    info: dict = field(default_factory=dict)


Event = Union[Piece, Done]


class Backend(Protocol):
    label: str

    def complete(
        self, prompt: str, params: CompletionParams, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[Event]: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...
