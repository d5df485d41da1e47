"""Ladder suites a user can pick by name (the Evals page's Ladder tab, `studio eval ladder`).

    known_suites()   # [("Starter held-out split", Path(".../heldout_suite.jsonl")), ...]

The starter curriculum's held-out split is package data and always there. The hand-written
suites in other words (bench/suites/*.jsonl, bench/RESULTS.md issue 11) come with a source
checkout only; an installed package lists just the split. Light on purpose: no model code, so
the GUI thread may call it.
"""

from __future__ import annotations

from pathlib import Path

BENCH_SUITES = Path(__file__).resolve().parents[2] / "bench" / "suites"


def default_suite() -> Path:
    """The starter curriculum's held-out split: the ladder's suite when none is named."""
    from studio.starter.curriculum import data_dir

    return data_dir() / "heldout_suite.jsonl"


def known_suites() -> list[tuple[str, Path]]:
    out = [("Starter held-out split (the curriculum's)", default_suite())]
    if BENCH_SUITES.is_dir():
        out += [(f"{p.stem.replace('_', ' ')} (bench/suites)", p) for p in sorted(BENCH_SUITES.glob("*.jsonl"))]
    return out
