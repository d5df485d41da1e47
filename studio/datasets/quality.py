"""The quality report of a dataset version: duplicates, lengths, refusals, diversity.

Every finding carries the positions of the rows it is about (up to `MAX_LINKED`), so the page
can jump to them. Token lengths come from the base model's tokenizer when a GGUF base model
is registered (the one row counter of `studio.datasets.tokens`, cached in
`examples.token_count`), otherwise they are estimated as chars / 4 and the report says so. Near duplicates use MinHash over word 3-shingles with LSH banding,
verified by the Jaccard similarity of the shingle sets.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections import defaultdict
from typing import Any

from studio.datasets import shapes

MAX_LINKED = 500
NEAR_DUP_ROWS = 50_000  # MinHash costs ~50 µs a row in Python: bounded for huge versions
NEAR_DUP_JACCARD = 0.8
OVERLONG_TURN_TOKENS = 2048
HIST_BINS = 20
REFUSAL = re.compile(
    r"\b(I'?m sorry|I am sorry|I apologi[sz]e|I can(?:no|')t (?:help|assist|provide|do)|I'?m (?:not able|unable) to|"
    r"I am (?:not able|unable) to|As an AI\b|as a language model|I won'?t be able to)",
    re.IGNORECASE,
)
_WS = re.compile(r"\s+")
_PERMS = 64
_BANDS = 16


def normalise(text: str) -> str:
    return _WS.sub(" ", text.lower()).strip()


def _shingles(text: str) -> set[int]:
    words = normalise(text).split()
    if len(words) < 3:
        return {zlib.crc32(" ".join(words).encode())}
    return {zlib.crc32(" ".join(words[i : i + 3]).encode()) for i in range(len(words) - 2)}


def near_duplicates(texts: list[str], threshold: float = NEAR_DUP_JACCARD) -> list[list[int]]:
    """Groups of indexes whose shingle sets have Jaccard >= threshold (exact copies excluded)."""
    import numpy as np

    rng = np.random.default_rng(12345)
    prime = np.uint64((1 << 61) - 1)
    a = rng.integers(1, 1 << 31, _PERMS, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, _PERMS, dtype=np.uint64)
    sets = [_shingles(t) for t in texts]
    rows_per_band = _PERMS // _BANDS
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, sh in enumerate(sets):
        x = np.fromiter(sh, dtype=np.uint64, count=len(sh))
        sig = ((np.outer(x, a) + b) % prime).min(axis=0)
        for band in range(_BANDS):
            buckets[(band, sig[band * rows_per_band : (band + 1) * rows_per_band].tobytes())].append(i)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    checked: set[tuple[int, int]] = set()
    for members in buckets.values():
        if len(members) < 2:
            continue
        first = members[0]
        for other in members[1:]:
            pair = (first, other)
            if pair in checked:
                continue
            checked.add(pair)
            sa, sb = sets[first], sets[other]
            if sa == sb and normalise(texts[first]) == normalise(texts[other]):
                continue  # an exact duplicate, reported separately
            if len(sa & sb) / len(sa | sb) >= threshold:
                parent[find(other)] = find(first)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        groups[find(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def distinct_n(texts: list[str], n: int) -> float:
    total, seen = 0, set()
    for t in texts:
        words = normalise(t).split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return round(len(seen) / total, 4) if total else 0.0


def histogram(values: list[int], bins: int = HIST_BINS) -> dict[str, Any]:
    if not values:
        return {"edges": [], "counts": []}
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // bins))
    edges = [lo + i * width for i in range(bins + 1)]
    counts = [0] * bins
    for v in values:
        counts[min((v - lo) // width, bins - 1)] += 1
    return {"edges": edges, "counts": counts}


def _finding(key: str, title: str, positions: list[int], severity: str = "warning", **extra) -> dict[str, Any]:
    return {"id": key, "title": title, "count": len(positions), "severity": severity,
            "positions": positions[:MAX_LINKED], **extra}


def _token_counts(studio, version_id: int, counter) -> tuple[dict[int, int], str]:
    """Token count per example id of the version, by the one row counter (studio.datasets.tokens)."""
    from studio.datasets.tokens import cached_counts, estimate_tokens

    with studio.db.engine.connect() as c:
        ids = [i for (i,) in c.exec_driver_sql(
            "SELECT DISTINCT r.example_id FROM version_rows r WHERE r.version_id = ?", (version_id,)).all()]
    if counter is not None:
        return cached_counts(studio, ids, counter), f"tokens ({counter.name}, {counter.template} template)"
    counts: dict[int, int] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        with studio.db.engine.connect() as c:
            data = c.exec_driver_sql(
                f"SELECT id, data FROM examples WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk)).all()
        counts.update((i, estimate_tokens(json.loads(d))) for i, d in data)
    return counts, "tokens (estimated: chars / 4; register a base model for exact counts)"


def quality_report(studio, version, *, tokenizer=None) -> dict[str, Any]:
    """The report for one DatasetVersion (plain data; `studio datasets stats --json` prints it)."""
    if tokenizer is None:
        from studio.datasets.tokens import row_counter

        try:
            tokenizer = row_counter(studio)
        except Exception:  # noqa: BLE001 - a missing tokenizer only makes counts estimates
            tokenizer = None
    counts, unit = _token_counts(studio, version.id, tokenizer)
    exact: dict[bytes, list[int]] = defaultdict(list)
    positions: list[int] = []
    texts: list[str] = []
    answers: list[str] = []
    lengths: list[int] = []
    overlong: list[int] = []
    empty: list[int] = []
    refusals: list[int] = []
    splits: dict[str, int] = defaultdict(int)
    with studio.db.engine.connect() as c:
        cur = c.exec_driver_sql(
            "SELECT r.position, r.split, e.id, e.data FROM version_rows r JOIN examples e ON e.id = r.example_id"
            " WHERE r.version_id = ? ORDER BY r.position", (version.id,))
        for pos, split, ex_id, data in cur:
            row = json.loads(data)
            text = shapes.row_text(row)
            splits[split] += 1
            exact[hashlib.blake2b(normalise(text).encode(), digest_size=16).digest()].append(pos)
            if len(texts) < NEAR_DUP_ROWS:
                positions.append(pos)
                texts.append(text)
            lengths.append(counts.get(ex_id, 0))
            msgs = shapes.as_messages(row)
            if any(not (m.get("content") or "").strip() for m in msgs):
                empty.append(pos)
            if any(len(m.get("content") or "") / 4 > OVERLONG_TURN_TOKENS for m in msgs):
                overlong.append(pos)
            ans = shapes.answer_texts(row)
            key_answers = ans[:1] if "chosen" in row else ans  # a rejected answer may refuse on purpose
            if any(REFUSAL.search(a) for a in key_answers):
                refusals.append(pos)
            if len(answers) < 100_000:
                answers += ans
    dup_groups = [g for g in exact.values() if len(g) > 1]
    near = [[positions[i] for i in g] for g in near_duplicates(texts)]
    n = version.row_count
    findings = [
        _finding("exact_duplicates", f"{sum(len(g) - 1 for g in dup_groups)} exact duplicates (same normalised text)",
                 sorted(p for g in dup_groups for p in g[1:]), groups=[g[:20] for g in dup_groups[:100]]),
        _finding("near_duplicates", f"{sum(len(g) - 1 for g in near)} near duplicates (MinHash, Jaccard ≥ {NEAR_DUP_JACCARD})",
                 sorted(p for g in near for p in g[1:]), groups=[g[:20] for g in near[:100]],
                 checked_rows=len(texts)),
        _finding("empty_turns", "rows with an empty turn", empty, "error"),
        _finding("overlong_turns", f"rows with a turn over ~{OVERLONG_TURN_TOKENS} tokens", overlong),
        _finding("refusals", "rows whose answer reads as a refusal", refusals, "info"),
    ]
    return {
        "name": version.dataset.name, "kind": version.dataset.kind, "version": version.version,
        "content_hash": version.content_hash, "rows": n, "splits": dict(splits),
        "length": {"unit": unit, "min": min(lengths, default=0), "max": max(lengths, default=0),
                   "mean": round(sum(lengths) / len(lengths), 1) if lengths else 0, "histogram": histogram(lengths)},
        "refusal_share": round(len(refusals) / n, 4) if n else 0.0,
        "diversity": {"distinct_1": distinct_n(answers, 1), "distinct_2": distinct_n(answers, 2)},
        "findings": findings,
    }
