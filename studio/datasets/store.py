"""Bulk writes of dataset versions over the raw sqlite3 connection, in one transaction.

The ORM costs about 100 µs a row; an import of a million rows goes through `executemany` in
batches instead, with example ids assigned up front under `BEGIN IMMEDIATE` (no other writer
can interleave). The format of the version hash is `studio.datasets.rows.VersionHasher`'s, so a
version written here and one written by `append_rows` hash alike.

    with write_transaction(db) as con:
        w = VersionWriter(con, dataset_id, parent=None, note="import x.jsonl")
        w.add_row(kind, data_json, ex_hash, char_count, source, split="train", tags="")
        version_id = w.finish()
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

from studio.datasets.rows import VersionHasher
from studio.db.models import utcnow

BATCH = 20_000


def _now() -> str:
    return utcnow().isoformat(sep=" ")


@contextmanager
def write_transaction(db) -> Iterator[Any]:
    """A raw sqlite3 connection inside BEGIN IMMEDIATE; commit on success, roll back on error."""
    raw = db.engine.raw_connection()
    con = raw.driver_connection
    prev = con.isolation_level
    con.isolation_level = None  # we issue BEGIN/COMMIT ourselves
    # a bigger page cache keeps the random-order content-hash index in memory during bulk writes
    cache = con.execute("PRAGMA cache_size").fetchone()[0]
    con.execute("PRAGMA cache_size = -262144")  # 256 MB, as a ceiling, not an allocation
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(f"PRAGMA cache_size = {int(cache)}")
        con.isolation_level = prev
        raw.close()


def create_dataset(con, name: str, kind: str, description: str = "") -> int:
    cur = con.execute(
        "INSERT INTO datasets (name, kind, description, created_at) VALUES (?, ?, ?, ?)",
        (name, kind, description, _now()),
    )
    return int(cur.lastrowid)


class VersionWriter:
    """Writes one new version row by row; examples are content-addressed and shared."""

    def __init__(self, con, dataset_id: int, parent_version_id: int | None, note: str = "", meta: dict | None = None):
        self.con = con
        last = con.execute("SELECT max(version) FROM dataset_versions WHERE dataset_id = ?", (dataset_id,)).fetchone()[0]
        cur = con.execute(
            "INSERT INTO dataset_versions (dataset_id, version, content_hash, row_count, parent_version_id, note, meta, created_at)"
            " VALUES (?, ?, '', 0, ?, ?, ?, ?)",
            (dataset_id, (last or 0) + 1, parent_version_id, note, json.dumps(meta or {}), _now()),
        )
        self.version_id = int(cur.lastrowid)
        self.meta = dict(meta or {})
        self.splits: dict[str, int] = {}
        self.tags: dict[str, int] = {}  # tags string -> rows; split into single tags at finish
        self.version = (last or 0) + 1
        self.position = 0
        self.hasher = VersionHasher()
        self._next_example_id = (con.execute("SELECT max(id) FROM examples").fetchone()[0] or 0) + 1
        self._has_examples = self._next_example_id > 1
        self._known: dict[str, int] = {}  # example hash -> id (a dataset holds one kind)
        self._pending: list[tuple] = []  # (kind, data, hash, char_count, source, split, tags)
        self._rows: list[tuple] = []

    def add_row(self, kind: str, data: str, ex_hash: str, char_count: int, source: str, split: str = "train", tags: str = "") -> None:
        self._pending.append((kind, data, ex_hash, char_count, source, split, tags))
        if len(self._pending) >= BATCH:
            self._flush_pending()

    def add_existing(self, example_id: int, ex_hash: str, split: str, tags: str) -> None:
        """A row that reuses a stored example (copying a parent version's membership)."""
        if self._pending:
            self._flush_pending()
        self._rows.append((self.version_id, self.position, example_id, split, tags))
        self._count(split, tags)
        self.hasher.update(ex_hash, split, tags)
        self.position += 1
        if len(self._rows) >= BATCH:
            self._flush_rows()

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        if self._has_examples:
            kind = self._pending[0][0]
            wanted = list({p[2] for p in self._pending if p[2] not in self._known})
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                q = "SELECT id, content_hash FROM examples WHERE kind = ? AND content_hash IN (%s)" % ",".join("?" * len(chunk))
                for ex_id, h in self.con.execute(q, [kind, *chunk]):
                    self._known.setdefault(h, ex_id)
        new_examples = []
        for kind, data, h, chars, source, split, tags in self._pending:
            ex_id = self._known.get(h)
            if ex_id is None:
                ex_id = self._next_example_id
                self._next_example_id += 1
                self._known[h] = ex_id
                new_examples.append((ex_id, kind, data, h, chars, source))
            self._rows.append((self.version_id, self.position, ex_id, split, tags))
            self._count(split, tags)
            self.hasher.update(h, split, tags)
            self.position += 1
        self._pending.clear()
        if new_examples:
            self.con.executemany(
                "INSERT INTO examples (id, kind, data, content_hash, token_count, char_count, source) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                new_examples,
            )
        self._flush_rows()

    def _flush_rows(self) -> None:
        if self._rows:
            self.con.executemany(
                "INSERT INTO version_rows (version_id, position, example_id, split, tags) VALUES (?, ?, ?, ?, ?)", self._rows
            )
            self._rows.clear()

    def _count(self, split: str, tags: str) -> None:
        self.splits[split] = self.splits.get(split, 0) + 1
        if tags:
            self.tags[tags] = self.tags.get(tags, 0) + 1

    def finish(self) -> tuple[int, int, str]:
        """(version id, version number, content hash) after writing what is left.

        The split and tag counts go into the version's meta, so showing a version of a
        million rows needs no scan."""
        self._flush_pending()
        self._flush_rows()
        digest = self.hasher.hexdigest()
        tags: dict[str, int] = {}
        for combo, n in self.tags.items():
            for t in combo.split(","):
                tags[t] = tags.get(t, 0) + n
        meta = {**self.meta, "splits": self.splits, "tags": tags}
        self.con.execute(
            "UPDATE dataset_versions SET row_count = ?, content_hash = ?, meta = ? WHERE id = ?",
            (self.position, digest, json.dumps(meta), self.version_id),
        )
        return self.version_id, self.version, digest


def membership(con, version_id: int) -> list[tuple[int, int, str, str, str]]:
    """(position, example id, split, tags, example hash) of a version, in order."""
    return con.execute(
        "SELECT r.position, r.example_id, r.split, r.tags, e.content_hash FROM version_rows r"
        " JOIN examples e ON e.id = r.example_id WHERE r.version_id = ? ORDER BY r.position",
        (version_id,),
    ).fetchall()
