"""Exact token counts with a base model's own tokenizer (llama.cpp's, loaded vocab-only).

Loading only the vocabulary of the 253 MB gemma GGUF takes a fraction of a second and no
weights. A `Llama` object is not thread-safe, so counts go through a lock; callers run them
on a worker thread, never on the GUI thread.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from studio.errors import StudioError


class TokenCounter:
    def __init__(self, gguf_path: str | Path, name: str = ""):
        import llama_cpp

        self.path = str(gguf_path)
        self.name = name or Path(gguf_path).name
        self._lock = threading.Lock()
        try:
            self._llm = llama_cpp.Llama(model_path=self.path, vocab_only=True, verbose=False)
        except Exception as e:  # noqa: BLE001 - llama.cpp raises ValueError/RuntimeError
            raise StudioError(f"Cannot read the tokenizer of {self.path} ({e})", hint="check the model file") from e

    def count(self, text: str, *, add_bos: bool = True) -> int:
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def count_many(self, texts: list[str]) -> list[int]:
        with self._lock:
            return [len(self._llm.tokenize(t.encode("utf-8"), add_bos=True, special=True)) for t in texts]


@lru_cache(maxsize=4)
def counter_for(gguf_path: str, name: str = "") -> TokenCounter:
    return TokenCounter(gguf_path, name)


def base_model_gguf(studio, model_name: str | None = None) -> tuple[str, str] | None:
    """(name, GGUF path) of the chosen base model, or of the first GGUF base model; None when none."""
    for m in studio.registry.list(kind="base"):
        if m.format == "gguf" and Path(m.path).exists() and (model_name is None or m.name == model_name):
            return m.name, m.path
    return None


def default_counter(studio, model_name: str | None = None) -> TokenCounter | None:
    found = base_model_gguf(studio, model_name)
    return counter_for(found[1], found[0]) if found else None
