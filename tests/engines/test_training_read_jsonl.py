"""A job's training file: every row, or a clear FILE:LINE error (no torch needed)."""

from __future__ import annotations

import pytest

from engines.training.common import TrainingError, read_jsonl


def test_rows_are_read_and_blank_lines_skipped(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}]


def test_a_bad_line_names_file_and_line_and_an_empty_file_is_refused(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(TrainingError) as e:
        read_jsonl(p)
    assert f"{p}:2: not JSON" in e.value.message and "re-create the job" in e.value.hint
    p.write_text("\n\n", encoding="utf-8")
    with pytest.raises(TrainingError, match="the training data is empty"):
        read_jsonl(p)
