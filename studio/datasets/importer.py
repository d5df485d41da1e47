"""Import a file as a dataset version: detect the shape, validate every row, store all or nothing.

The file is streamed: rows are validated and written in batches inside one write transaction,
so memory stays flat for a million rows. On the first problem the importer stops writing but
keeps reading to count the rest; at the end any problem rolls the transaction back and raises
`ImportProblems`, listing `FILE:LINE: problem` for the first 20 and a count of the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from studio.datasets import shapes
from studio.datasets.formats import FileProblem, RecordProblem, read_records
from studio.datasets.rows import KINDS
from studio.datasets.store import VersionWriter, create_dataset, membership, write_transaction
from studio.errors import UserError

MAX_SHOWN = 20


def canonical_bytes(row: dict[str, Any]) -> bytes:
    """The row as UTF-8 canonical JSON, byte for byte what studio.datasets.rows.canonical_json
    writes (sorted keys, no spaces, no ASCII escaping), at orjson's speed."""
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


class ImportProblems(UserError):
    """The file has problems; nothing was stored."""

    def __init__(self, label: str, problems: list[str], total: int):
        more = f"\n… and {total - len(problems)} more problems" if total > len(problems) else ""
        super().__init__(
            f"{label}: {total} problem{'s' if total != 1 else ''}, nothing was imported:\n" + "\n".join(problems) + more,
            hint="fix the lines named above and import again",
        )
        self.problems = problems
        self.total = total


@dataclass
class ImportResult:
    name: str
    kind: str
    rows: int
    version: int
    version_id: int
    content_hash: str
    format: str
    mapping: dict[str, Any] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)  # source columns no row field came from

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "rows": self.rows, "version": self.version,
                "version_id": self.version_id, "content_hash": self.content_hash, "format": self.format,
                "mapping": self.mapping, "ignored_columns": self.ignored_columns}


class _Checker:
    """Turns records into canonical rows, collecting `FILE:LINE: problem` lines."""

    def __init__(self, label: str, kind: str):
        self.label = label
        self.forced = kind != "auto"
        self.kind = None if kind == "auto" else kind
        self.mapping: shapes.Mapping | None = None
        self.problems: list[str] = []
        self.total = 0
        self.first_kind_line = 0

    def ignored_columns(self) -> list[str]:
        return sorted(self.mapping.ignored) if self.mapping else []

    def problem(self, line: int, message: str) -> None:
        self.total += 1
        if len(self.problems) < MAX_SHOWN:
            self.problems.append(f"{self.label}:{line}: {message}" if line else f"{self.label}: {message}")

    def check(self, line: int, rec: Any) -> dict[str, Any] | None:
        if isinstance(rec, RecordProblem):
            self.problem(line, rec.message)
            return None
        if not isinstance(rec, dict):
            self.problem(line, f"each record must be a JSON object, got {type(rec).__name__}")
            return None
        shape = shapes.shape_for_kind(rec, self.kind) if self.forced else shapes.detect_shape(rec)
        if shape is None:
            fields = ", ".join(sorted(k for k in rec if not k.startswith("__"))) or "none"
            self.problem(line, f"unrecognised row (fields: {fields}); expected messages, conversations, "
                               "instruction/output, prompt/completion, prompt/chosen/rejected or prompt")
            return None
        row_kind = shapes.SHAPE_KIND[shape]
        if self.kind is None:
            self.kind, self.first_kind_line = row_kind, line
        elif row_kind != self.kind:
            if self.forced:
                self.problem(line, f"this row is a {row_kind} example ({shape} shape), but the kind {self.kind} was asked for")
            else:
                self.problem(line, f"this row is a {row_kind} example but line {self.first_kind_line} is {self.kind} "
                                   "(mixed kinds in one file); split the file, or force --kind")
            return None
        if self.mapping is None:
            self.mapping = shapes.new_mapping(shape)
        elif self.mapping.shape != shape:
            self.mapping.fields.update(shapes.new_mapping(shape).fields)
            self.mapping.shape = f"{self.mapping.shape}+{shape}" if shape not in self.mapping.shape else self.mapping.shape
        row, problems = shapes.map_record(rec, shape)
        for p in problems:
            self.problem(line, p)
        if row is not None:
            self.mapping.ignored |= shapes.ignored_fields(rec, shape)
        return row


def preview(path: str | Path, kind: str = "auto", limit: int = 50) -> dict[str, Any]:
    """The first rows as they would be imported, with the mapping and any problems (no writes)."""
    path = Path(path)
    _check_path(path, kind)
    try:
        fmt, records = read_records(path)
        checker = _Checker(path.name, kind)
        rows = []
        for line, rec in records:
            row = checker.check(line, rec)
            if row is not None:
                rows.append(row)
            if line >= limit or len(rows) >= limit:
                break
    except FileProblem as e:
        return {"format": None, "mapping": None, "kind": None, "rows": [], "ignored_columns": [],
                "problems": [f"{path.name}:{e.line}: {e.message}"]}
    return {"format": fmt, "kind": checker.kind, "mapping": checker.mapping.to_dict() if checker.mapping else None,
            "mapping_text": checker.mapping.describe() if checker.mapping else "", "rows": rows,
            "ignored_columns": checker.ignored_columns(), "problems": checker.problems}


def _check_path(path: Path, kind: str) -> None:
    if kind != "auto" and kind not in KINDS:
        raise UserError(f"Unknown kind {kind!r}", hint=f"use auto or one of {', '.join(KINDS)}")
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")


def import_file(db, path: str | Path, name: str, kind: str = "auto", *, append: bool = False, note: str = "") -> ImportResult:
    """Import `path` as dataset `name` (a new dataset, or a new version of it with append=True)."""
    path = Path(path)
    _check_path(path, kind)
    name = (name or "").strip()
    if not name:
        raise UserError("A dataset needs a name", hint="pass --name NAME")
    label = path.name
    source = f"import:{label}"
    checker = _Checker(label, kind)
    fmt = "?"
    with db.session() as s:
        existing = s.execute(text("SELECT id, kind FROM datasets WHERE name = :n"), {"n": name}).first()
    if existing is not None and not append:
        raise UserError(f"A dataset named {name!r} already exists", hint="choose another --name, or append a new version")
    if existing is not None:
        if checker.kind not in (None, existing[1]):
            raise UserError(f"Dataset {name!r} holds {existing[1]} rows, not {checker.kind}")
        checker.kind = existing[1]  # appended rows must match the dataset's kind
    with write_transaction(db) as con:
        writer = None
        try:
            fmt, records = read_records(path)
            for line, rec in records:
                row = checker.check(line, rec)
                if row is None or checker.total:
                    continue  # after the first problem: only count the rest
                if writer is None:
                    writer = _start_writer(con, name, checker.kind, existing, label, note)
                try:
                    data = canonical_bytes(row)
                except TypeError:  # a lone surrogate from a "\ud800" escape is not text
                    checker.problem(line, "holds an invalid \\u escape (a lone surrogate), not Unicode text")
                    continue
                split = "eval" if rec.get("__split__") == "eval" else "train"
                writer.add_row(checker.kind, data.decode(), hashlib.sha256(data).hexdigest(), shapes.text_length(row), source, split)
        except FileProblem as e:
            checker.problem(e.line, e.message)
        except OSError as e:
            checker.problem(0, f"cannot read the file ({e.strerror or e})")
        if checker.total:
            raise ImportProblems(label, checker.problems, checker.total)
        if writer is None:
            raise UserError(f"{label}: the file holds no rows, nothing was imported")
        ignored = checker.ignored_columns()
        if ignored:  # the version's history says which source columns did not come along
            writer.meta["ignored_columns"] = ignored
        version_id, version, digest = writer.finish()
        rows = writer.position
    mapping = checker.mapping.to_dict() if checker.mapping else {}
    mapping["text"] = checker.mapping.describe() if checker.mapping else ""
    return ImportResult(name, checker.kind, rows, version, version_id, digest, fmt, mapping, ignored)


def _start_writer(con, name: str, kind: str, existing, label: str, note: str) -> VersionWriter:
    if existing is None:
        dataset_id, parent = create_dataset(con, name, kind), None
        w = VersionWriter(con, dataset_id, None, note or f"import {label}", {"source": label})
        return w
    dataset_id = existing[0]
    parent = con.execute("SELECT id FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC LIMIT 1", (dataset_id,)).fetchone()
    w = VersionWriter(con, dataset_id, parent[0] if parent else None, note or f"append {label}", {"source": label})
    if parent:
        for _pos, ex_id, split, tags, h in membership(con, parent[0]):
            w.add_existing(ex_id, h, split, tags)
    return w
