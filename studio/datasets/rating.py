"""The Rate view's core: candidate pairs, choices that become preference rows, agreement.

A pair is a prompt with two answers, shown as A and B in an order fixed by a seed (so the
rater cannot learn that A is always the dataset's `chosen`). Each choice is stored as a
`Rating`; A or B also appends `{"prompt", "chosen", "rejected"}` to a preference dataset as a
new version. Rating the same pair again (in any A/B order) is compared with the previous
rating of it: that is the agreement figure.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from engines.inference.backend import Sampling
from studio.datasets.models import Rating
from studio.datasets.rows import append_rows, iter_rows, resolve_version
from studio.errors import UserError

CHOICES = ("a", "b", "tie", "skip")


@dataclass
class Pair:
    prompt: Any  # str or a list of turns, as the source row holds it
    a: Any
    b: Any
    source: str = ""

    @property
    def prompt_text(self) -> str:
        return _text(self.prompt)

    @property
    def a_text(self) -> str:
        return _text(self.a)

    @property
    def b_text(self) -> str:
        return _text(self.b)

    def key(self) -> str:
        """The same for (prompt, x, y) and (prompt, y, x)."""
        answers = sorted([_canon(self.a), _canon(self.b)])
        return hashlib.sha256("\x1f".join([_canon(self.prompt), *answers]).encode()).hexdigest()


def _canon(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in v)


def pairs_from_dataset(studio, name: str, version: int | None = None, *, seed: int = 0, limit: int = 1000) -> list[Pair]:
    """Candidate pairs from a preference dataset (chosen vs rejected, order shuffled by seed)."""
    v = resolve_version(studio.db, name, version)
    if v.dataset.kind != "preference":
        raise UserError(f"Dataset {name!r} holds {v.dataset.kind} rows; pairs come from a preference dataset",
                        hint="for a prompt dataset, generate the two answers with a model")
    rng = random.Random(seed)
    out = []
    for row in iter_rows(studio.db, v.id):
        prompt = row.get("prompt")
        chosen, rejected = row["chosen"], row["rejected"]
        if prompt is None:  # implicit prompt: the shared turns before the answers
            prompt, chosen, rejected = chosen[:-1], chosen[-1:], rejected[-1:]
        a, b = (chosen, rejected) if rng.random() < 0.5 else (rejected, chosen)
        out.append(Pair(prompt, a, b, f"{name} v{v.version}"))
        if len(out) >= limit:
            break
    return out


def prompts_from_dataset(studio, name: str, version: int | None = None, limit: int = 1000) -> list[Any]:
    """The prompts of a prompt (or preference) dataset, for model-generated candidates."""
    v = resolve_version(studio.db, name, version)
    out = []
    for row in iter_rows(studio.db, v.id):
        if "prompt" in row:
            out.append(row["prompt"])
        elif "messages" in row:
            out.append([m for m in row["messages"] if m["role"] != "assistant"][:1] or row["messages"][:1])
        if len(out) >= limit:
            break
    return out


def generate_pair(chat, prompt: Any, *, model: str | None = None, max_tokens: int = 96, seed: int = 0) -> tuple[str, str]:
    """Two answers to `prompt` by `model`, at two temperatures, written in the chat service's model
    host (slot "rate"), so llama.cpp never computes in the caller's process. Blocks: call it from
    a worker thread."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    answers = []
    for i, temp in enumerate((0.7, 1.1)):
        text = chat.complete_text(messages, model=model, slot="rate", max_tokens=max_tokens,
                                  sampling=Sampling(temperature=temp, seed=seed + i))
        answers.append(text.strip() or "(empty answer)")
    return answers[0], answers[1]


def record(studio, pair: Pair, choice: str, target: str | None) -> dict[str, Any]:
    """Store one choice; A/B also become a row of the `target` preference dataset."""
    if choice not in CHOICES:
        raise UserError(f"Unknown choice {choice!r}", hint="a, b, tie or skip")
    if choice in ("a", "b") and not target:
        raise UserError("Choose the preference dataset that receives the ratings")
    key = pair.key()
    preferred = {"a": _canon(pair.a), "b": _canon(pair.b), "tie": "tie"}.get(choice)
    preferred_hash = hashlib.sha256(preferred.encode()).hexdigest() if preferred else None
    version = None
    if choice in ("a", "b"):
        chosen, rejected = (pair.a, pair.b) if choice == "a" else (pair.b, pair.a)
        row = {"prompt": pair.prompt, "chosen": chosen, "rejected": rejected}
        if isinstance(pair.prompt, list) and isinstance(chosen, str):
            row = {"prompt": pair.prompt, "chosen": [{"role": "assistant", "content": chosen}],
                   "rejected": [{"role": "assistant", "content": rejected}]}
        v = append_rows(studio.db, target, "preference", [row], source="rate", note="rating")
        version = v.version
    with studio.db.session() as s:
        agrees = None
        if preferred_hash is not None:
            prev = s.scalars(select(Rating).where(Rating.pair_hash == key, Rating.preferred_hash.is_not(None))
                             .order_by(Rating.id.desc()).limit(1)).first()
            if prev is not None:
                agrees = prev.preferred_hash == preferred_hash
        s.add(Rating(pair_hash=key, prompt=_canon(pair.prompt), answer_a=_canon(pair.a), answer_b=_canon(pair.b),
                     choice=choice, preferred_hash=preferred_hash, source=pair.source, target_dataset=target or "",
                     agrees=agrees))
    return {"choice": choice, "agrees": agrees, "target": target, "version": version}


def agreement(studio) -> dict[str, Any]:
    """How often a repeated rating matched the previous rating of the same pair."""
    with studio.db.session() as s:
        compared = s.scalar(select(func.count()).select_from(Rating).where(Rating.agrees.is_not(None))) or 0
        agreed = s.scalar(select(func.count()).select_from(Rating).where(Rating.agrees.is_(True))) or 0
        total = s.scalar(select(func.count()).select_from(Rating)) or 0
    return {"ratings": total, "compared": compared, "agreed": agreed,
            "rate": round(agreed / compared, 4) if compared else None}
