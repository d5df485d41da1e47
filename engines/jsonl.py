"""JSON Lines read with line numbers, so that a bad line is reported as FILE:LINE.

    for n, row, problem in json_lines("suite.jsonl"):   # blank lines are skipped
        if problem: ...                                 # "suite.jsonl:3: not JSON (Expecting value)"
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any


def json_lines(path: str | os.PathLike) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, value, None) for each non-blank line, or (line number, None, problem) for a
    line that is not JSON: the caller raises the problem at once or collects them all."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line), None
            except json.JSONDecodeError as e:
                yield n, None, f"{path}:{n}: not JSON ({e.msg})"
