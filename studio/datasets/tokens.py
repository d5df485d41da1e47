"""Exact token counts with a base model's own tokenizer (llama.cpp's, loaded vocab-only).

Loading only the vocabulary of the 253 MB gemma GGUF takes a fraction of a second and no
weights. A `Llama` object is not thread-safe, so counts go through a lock; callers run them
on a worker thread, never on the GUI thread.

One rule counts a dataset row everywhere (the Datasets table, the row editor, the quality
report): `RowCounter.count(row)`, the base model's tokenizer over the row as the base's chat
template renders it, BOS included, which is the text SFT trains on. Counts are cached in
`examples.token_count`; the setting `datasets.token_basis` names the tokenizer and template
they were made with, and a different basis clears the cache. Without a base model every view
shows the same estimate, `estimate_tokens` (characters / 4, as `LENGTH_SQL` in the service).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from studio.datasets import shapes
from studio.errors import StudioError

BASIS_KEY = "datasets.token_basis"


class TokenCounter:
    def __init__(self, gguf_path: str | Path, name: str = ""):
        import llama_cpp

        from engines.inference.llama_params import closed_at_exit

        self.path = str(gguf_path)
        self.name = name or Path(gguf_path).name
        self._lock = threading.Lock()
        try:
            self._llm = closed_at_exit(llama_cpp.Llama(model_path=self.path, vocab_only=True, verbose=False))
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


def estimate_tokens(row: dict) -> int:
    """The length shown before a base model can count a row: ~4 characters a token."""
    return shapes.text_length(row) // 4


def rendered_text(row: dict, template: str, *, bos_token: str = "") -> str:
    """A row as the chat template renders it for training (the plain turns if it cannot render)."""
    from engines.templates import get_template, render

    messages = shapes.as_messages(row)
    try:
        return render(get_template(template).training, messages, bos_token=bos_token)
    except Exception:  # noqa: BLE001 - a row the template rejects is still counted, as its text
        return bos_token + "\n".join(m.get("content") or "" for m in messages)


class RowCounter:
    """Counts a dataset row: `tokenizer` over the row rendered by `template`, BOS included."""

    def __init__(self, tokenizer: TokenCounter, template: str):
        self.tokenizer, self.template = tokenizer, template
        self.name = tokenizer.name
        self.basis = f"{tokenizer.path}|{template}|rendered+bos"

    def count(self, row: dict) -> int:
        # BOS comes from the tokenizer (add_bos), not the text: the same count whichever token
        # the vocabulary calls BOS, equal to the rendered "<bos>..." text tokenised as trl does.
        return self.tokenizer.count(rendered_text(row, self.template), add_bos=True)


def row_counter(studio, model_name: str | None = None) -> RowCounter | None:
    """The counter of the chosen (or first) GGUF base model, with its default chat template."""
    from engines.templates import default_template_for

    for m in studio.registry.list(kind="base"):
        if m.format == "gguf" and Path(m.path).exists() and (model_name is None or m.name == model_name):
            return RowCounter(counter_for(m.path, m.name), default_template_for(m.architecture))
    return None


def ensure_basis(studio, counter: RowCounter) -> None:
    """Clear cached counts made with another tokenizer or template (call before reading them)."""
    import json

    from studio.datasets.store import write_transaction

    with studio.db.engine.connect() as c:
        basis = c.exec_driver_sql("SELECT value FROM settings WHERE key = ?", (BASIS_KEY,)).scalar()
    if basis is None or json.loads(str(basis)) != counter.basis:
        with write_transaction(studio.db) as con:  # counts made another way must not mix in
            con.execute("UPDATE examples SET token_count = NULL WHERE token_count IS NOT NULL")
            con.execute("INSERT INTO settings (key, value) VALUES (?, ?)"
                        " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (BASIS_KEY, json.dumps(counter.basis)))


def cached_counts(studio, example_ids: list[int], counter: RowCounter) -> dict[int, int]:
    """Token counts of these examples, counting and caching the missing ones in chunks."""
    import json

    from studio.datasets.store import write_transaction

    ensure_basis(studio, counter)
    counts: dict[int, int] = {}
    for start in range(0, len(example_ids), 5000):
        chunk = list(example_ids[start : start + 5000])
        marks = ",".join("?" * len(chunk))
        with studio.db.engine.connect() as c:
            rows = c.exec_driver_sql(f"SELECT id, token_count FROM examples WHERE id IN ({marks})", tuple(chunk)).all()
        counts.update((i, n) for i, n in rows if n is not None)
        missing = [i for i, n in rows if n is None]
        if not missing:
            continue
        with studio.db.engine.connect() as c:
            data = c.exec_driver_sql(
                f"SELECT id, data FROM examples WHERE id IN ({','.join('?' * len(missing))})", tuple(missing)).all()
        new = [(counter.count(json.loads(d)), i) for i, d in data]
        counts.update((i, n) for n, i in new)
        with write_transaction(studio.db) as con:
            con.executemany("UPDATE examples SET token_count = ? WHERE id = ?", new)
    return counts
