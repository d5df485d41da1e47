"""Readers for the file formats a dataset can come from, yielding (line, record) pairs.

Every reader streams: a JSONL file is read line by line with a size cap, so a 30 MB single
line or a binary file is reported (``FILE:LINE: line is over the size limit``) without being
held in memory. Records are plain dicts exactly as the file holds them; the shape mapping
(ShareGPT, Alpaca, trl's formats) happens in ``studio.datasets.shapes``.

A problem with the file itself (not UTF-8, binary, unreadable) raises ``FileProblem``;
a problem with one record is yielded as ``(line, RecordProblem)`` so the importer can keep
counting problems after the first one.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

MAX_LINE_BYTES = 8 * 1024 * 1024  # one example larger than this is a mistake, not data
MAX_JSON_ARRAY_BYTES = 512 * 1024 * 1024  # a JSON array is parsed whole: beyond this, use JSONL
FORMATS = ("jsonl", "json", "csv", "parquet", "hf")


class FileProblem(Exception):
    """The file as a whole cannot be read (wrong encoding, binary, bad container)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class RecordProblem:
    """One record that could not even be parsed (bad JSON, too long, bad bytes)."""

    message: str


def detect_format(path: Path) -> str:
    if path.is_dir():
        if any((path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return "hf"
        raise FileProblem(0, "is a folder but not a Hugging Face dataset saved with save_to_disk "
                             "(no dataset_info.json, state.json or dataset_dict.json)")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        # Many ".json" files are really JSON Lines: the first non-blank byte decides.
        with open(path, "rb") as f:
            head = f.read(4096).lstrip(codecs.BOM_UTF8).lstrip()
        return "json" if head.startswith(b"[") else "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise FileProblem(0, f"unknown file type {suffix or '(no extension)'!r}; use .jsonl, .json, .csv, "
                         ".parquet or a Hugging Face dataset folder")


def _check_text_head(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(8192)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem(1, "the file is UTF-16 encoded; save it as UTF-8")
    if b"\x00" in head:
        raise FileProblem(1, "this looks like a binary file (it contains NUL bytes), not text")


def _decode(raw: bytes) -> str | RecordProblem:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return RecordProblem(
            f"undecodable bytes at column {e.start + 1} (not UTF-8: wrong encoding?); save the file as UTF-8"
        )


def read_jsonl(path: Path, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, Any]]:
    _check_text_head(path)
    with open(path, "rb") as f:
        line_no = 0
        while True:
            raw = f.readline(max_line + 1)
            if not raw:
                return
            line_no += 1
            if len(raw) > max_line and not raw.endswith(b"\n"):
                # Skip the rest of the over-long line in bounded chunks, never holding it.
                while True:
                    chunk = f.readline(1 << 20)
                    if not chunk or chunk.endswith(b"\n"):
                        break
                yield line_no, RecordProblem(
                    f"line is over the size limit of {max_line // (1024 * 1024)} MB; split the example or fix the line breaks"
                )
                continue
            if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            if b"\x00" in raw:
                yield line_no, RecordProblem("contains NUL bytes (binary data, not text)")
                continue
            try:  # the fast path; on any failure the stdlib path below names the problem
                yield line_no, orjson.loads(raw)
                continue
            except orjson.JSONDecodeError:
                pass
            text = _decode(raw)
            if isinstance(text, RecordProblem):
                yield line_no, text
                continue
            if not text.strip():
                continue
            try:
                yield line_no, json.loads(text)
            except json.JSONDecodeError as e:
                yield line_no, RecordProblem(f"not valid JSON ({e.msg} at column {e.colno})")


def read_json_array(path: Path) -> Iterator[tuple[int, Any]]:
    _check_text_head(path)
    size = path.stat().st_size
    if size > MAX_JSON_ARRAY_BYTES:
        raise FileProblem(1, f"a JSON array of {size / 1e6:.0f} MB is too large to parse at once; convert it to JSON Lines")
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise FileProblem(line, "undecodable bytes (not UTF-8: wrong encoding?); save the file as UTF-8") from None
    del raw
    dec = json.JSONDecoder()
    ws = " \t\r\n"
    pos, n = 0, len(text)
    line, counted = 1, 0

    def line_at(p: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, p)
        counted = p
        return line

    while pos < n and text[pos] in ws:
        pos += 1
    if pos >= n or text[pos] != "[":
        raise FileProblem(line_at(pos), "a .json file must hold an array of objects ([{...}, {...}])")
    pos += 1
    expect_value = True
    while True:
        while pos < n and text[pos] in ws:
            pos += 1
        if pos >= n:
            raise FileProblem(line_at(pos), "the JSON array is not closed (missing ])")
        if text[pos] == "]" :
            return
        if not expect_value:
            if text[pos] != ",":
                raise FileProblem(line_at(pos), "expected , or ] between array items")
            pos += 1
            expect_value = True
            continue
        at = line_at(pos)
        try:
            value, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise FileProblem(line_at(e.pos), f"not valid JSON ({e.msg})") from None
        yield at, value
        pos = end
        expect_value = False


_JSON_COLUMNS = ("messages", "conversations", "prompt", "chosen", "rejected", "completion", "tests")
_TEXT_COLUMNS = ("prompt", "chosen", "rejected", "completion")  # text or a JSON list of turns


def read_csv(path: Path) -> Iterator[tuple[int, Any]]:
    """Rows of a CSV (or .tsv) file with a header, read strictly: a quote that never closes
    stops the import at the line where its cell began, and a row with more or fewer cells than
    the header is a problem on its line (never padded or cut to fit)."""
    _check_text_head(path)
    csv.field_size_limit(MAX_LINE_BYTES)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter, strict=True)
            start = 1
            for cells in _csv_rows(reader):
                line, start = start, reader.line_num + 1
                if line == 1:
                    names = _csv_header(cells)
                    continue
                if not cells:
                    continue  # a blank line
                if len(cells) != len(names):
                    yield line, RecordProblem(f"has {len(cells)} cell{'s' if len(cells) != 1 else ''}, "
                                              f"but the header has {len(names)} columns "
                                              "(a missing or extra delimiter, or a quote in the wrong place?)")
                    continue
                problem = None
                out: dict[str, Any] = {}
                for k, v in zip(names, cells):
                    # Conversations in a CSV cell are JSON text; decode them so they map like JSONL.
                    if k in _JSON_COLUMNS and v.lstrip()[:1] in ("[", "{"):
                        try:
                            v = json.loads(v)
                        except json.JSONDecodeError as e:
                            if k not in _TEXT_COLUMNS:  # text may start with a bracket ("[INST] ...")
                                problem = RecordProblem(f"column {k!r} holds invalid JSON ({e.msg})")
                                break
                    out[k] = v
                yield line, problem or out
            if start == 1:
                raise FileProblem(1, "the CSV file has no header row")
    except UnicodeDecodeError:
        raise FileProblem(0, "undecodable bytes (not UTF-8: wrong encoding?); save the file as UTF-8") from None
    except _CsvProblem as e:
        raise FileProblem(start, e.message) from None


class _CsvProblem(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _csv_rows(reader) -> Iterator[list[str]]:
    """The reader's rows, with csv's errors turned into messages about the row being read."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if "unexpected end of data" in str(e):
                raise _CsvProblem("a quoted cell starts on this line and its quote is never closed "
                                  "(an unterminated quote); close it or remove the stray quote") from None
            raise _CsvProblem(f"not valid CSV ({e})") from None


def _csv_header(cells: list[str]) -> list[str]:
    if not any(c.strip() for c in cells):
        raise FileProblem(1, "the CSV file has no header row (the first line is empty)")
    names = [c if c.strip() else f"(column {i + 1}, no name)" for i, c in enumerate(cells)]
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise FileProblem(1, f"the header names the column {dup!r} twice; rename one of them")
    return names


def read_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise FileProblem(0, f"not a readable Parquet file ({e})") from None
    row = 0
    for batch in pf.iter_batches(batch_size=4096):
        for rec in batch.to_pylist():
            row += 1
            yield row, rec


def read_hf_dir(path: Path) -> Iterator[tuple[int, Any]]:
    """Rows of a `save_to_disk` folder; a DatasetDict's test/validation split maps to eval."""
    try:
        from datasets import DatasetDict, load_from_disk

        ds = load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001
        raise FileProblem(0, f"not a readable Hugging Face dataset folder ({e})") from None
    parts = list(ds.items()) if isinstance(ds, DatasetDict) else [("train", ds)]
    row = 0
    for split_name, part in parts:
        split = "eval" if split_name in ("test", "validation", "valid", "eval", "dev") else "train"
        for rec in part:
            row += 1
            rec = dict(rec)
            rec.setdefault("__split__", split)
            yield row, rec


def read_records(path: Path, fmt: str | None = None) -> tuple[str, Iterator[tuple[int, Any]]]:
    fmt = fmt or detect_format(path)
    readers = {"jsonl": read_jsonl, "json": read_json_array, "csv": read_csv, "parquet": read_parquet, "hf": read_hf_dir}
    if fmt not in readers:
        raise FileProblem(0, f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return fmt, readers[fmt](path)

